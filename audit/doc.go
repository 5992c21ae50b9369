// Package audit writes an audit log as kube-apiserver writes it: audit.k8s.io/v1
// Events chosen by an audit.k8s.io/v1 Policy, written by a log backend with
// Kubernetes' flags (--audit-policy-file, --audit-log-*), modes (blocking,
// batch, blocking-strict), rotation (gopkg.in/natefinch/lumberjack.v2),
// truncation and metrics (apiserver_audit_*). It is off unless a policy and a
// log are given; off, it costs one nil check per request.
//
// kube-apiserver audits a request it proxies to an extension apiserver at
// Metadata level at most, and never sees the extension's response: this log
// is the extension's own, and shares each request's Audit-ID with
// kube-apiserver's (the aggregator forwards it), so that both can be joined.
//
// # The events
//
// The evaluator, the events and their encoding are Kubernetes' (k8s.io/apiserver
// v0.37.2, pkg/audit, pkg/audit/policy, pkg/endpoints/filters/audit.go,
// plugin/pkg/audit/{log,buffered,truncate}), rewritten because those packages
// import OpenTelemetry through their metrics; the tests hold them to
// Kubernetes' own code, byte for byte: the same requests through Kubernetes'
// WithAudit and WithFailedAuthenticationAudit filters and its log backend,
// and through an Auditor, give the same log lines (stageTimestamp aside).
//
//   - Stages RequestReceived; ResponseStarted for long-running requests (and
//     for a refusal of authentication, its only event); ResponseComplete; Panic.
//     Levels None, Metadata, Request, RequestResponse; the first matching rule
//     wins; omitStages of the policy and of the rule; omitManagedFields.
//   - auditID, user (the authenticated user), impersonatedUser, sourceIPs
//     (X-Forwarded-For, X-Real-Ip, then the remote address, as Kubernetes'
//     utilnet.SourceIPs), userAgent (cut at 1024 bytes), requestURI, verb,
//     objectRef from the RequestInfo, responseStatus, the timestamps, and the
//     annotations: authorization.k8s.io/decision and authorization.k8s.io/reason,
//     and the handler's (Record.Annotate, through RecordFrom).
//   - What Kubernetes' audit filter records of a handler that is not one of its
//     REST handlers, which is what an extension's handler is: the status code
//     of the response (a response never started: 200, "Connection closed
//     early"); the whole Status when the response is a Status written by
//     Kubernetes' response writers (refusals, and a handler answering with an
//     error), which the pipeline reports with Record.SetResponseStatus, and at
//     RequestResponse level that Status as the responseObject; and no
//     requestObject or other responseObject: those come from the REST handlers'
//     LogRequestObject and LogResponseObject, which decode the objects. Options.RecordBodies
//     records instead, at levels Request and RequestResponse, the JSON bodies
//     the handler read and wrote (each up to MaxBodyBytes; longer ones are left
//     out and the event annotated audit.k8s.io/truncated=true), managed fields
//     omitted as the policy says.
//
// # Wiring
//
// The pipeline calls the Auditor where kube-apiserver's filter chain does
// (pkg/server/config.go DefaultBuildHandlerChain: WithAuthentication, then
// WithAudit, WithImpersonation, max-in-flight, WithAuthorization, the handler):
//
//  1. Before authentication, nothing: the request's Audit-ID, received time
//     and RequestInfo are known (serving gives them).
//  2. When authentication refuses the request, before writing the 401:
//     rec := a.FailedAuthentication(r, info, auditID, received), with the
//     request as it came (its credentials name the methods tried);
//     rec.SetResponseStatus(&status); write the Status through rec.Writer(w);
//     rec.End().
//  3. When authentication succeeds (anonymous included), before impersonation:
//     rec, err := a.Begin(r, info, u, auditID, received, longRunning). An
//     error (ErrNotStored, blocking-strict only) fails the request with 500,
//     as Kubernetes does. A nil rec (level None, or audit off) needs nothing
//     more, though its methods may be called. Otherwise w = rec.Writer(w),
//     r.Body = rec.Body(r.Body) (for RecordBodies), the request's context
//     carries rec (WithRecord) for the steps and the handler, and a deferred
//     function calls rec.Panic(v) and re-panics on a panic, else rec.End().
//  4. Impersonation allowed: rec.SetImpersonatedUser(impersonated, "").
//  5. Authorization decided: rec.Authorized(decision, reason, err), whatever
//     the decision.
//  6. Every Status the pipeline or a handler answers with (401, 403, 429
//     when a Status, 500, 503...): rec.SetResponseStatus(&status) before
//     writing it. A response that is not a Status (Kubernetes' plain-text 429
//     of max-in-flight, a handler's own body) records its code only.
//  7. After the handler returns: rec.End() (from the deferred function above).
//
// The Record's methods are safe for concurrent use, and do nothing on a nil
// Record or after End.
//
// # Modes and bounds
//
// ModeBlocking (the default) writes each event before the request goes on: a
// slow disk slows the requests down, as in Kubernetes. ModeBlockingStrict
// also fails a request whose RequestReceived event could not be written.
// ModeBatch never waits for the disk: events wait in a buffer bounded in
// events (BufferSize, 10000) and in bytes (BufferBytes, 64 MiB, counting the
// batch being written), and events that find it full are dropped and counted
// (apiserver_audit_error_total{plugin="buffered"}). A write failure is counted
// (apiserver_audit_error_total{plugin="log"}) and logged a few lines a second
// at most, without the event. Truncation (--audit-log-truncate-enabled)
// bounds events as Kubernetes' truncate plugin does.
//
// An unauthenticated client cannot make the log grow faster than Kubernetes'
// own audit of the same requests, and makes it grow much slower: the events
// of a request refused by authentication, or let through as
// system:anonymous, have their client-chosen fields bounded (requestURI,
// objectRef, sourceIPs, the Status the request is answered with; userAgent
// as in Kubernetes) and no bodies: at most MaxUnauthenticatedEventBytes (64
// KiB) however large the request, where Kubernetes writes the whole request
// line and headers, megabytes.
//
// # Differences from Kubernetes
//
// Deliberate, and tested where they show:
//
//   - The events of unauthenticated requests are bounded, as above:
//     requestURI at MaxUnauthenticatedURILength bytes, each objectRef field
//     and the responseStatus' status, reason and details at
//     MaxUnauthenticatedFieldLength, its message at
//     MaxUnauthenticatedMessageLength, cut and marked "...TRUNCATED" (as
//     Kubernetes marks a long User-Agent); the Status' causes are left out;
//     sourceIPs keep the last MaxUnauthenticatedSourceIPs addresses, those
//     the nearest proxies added; RecordBodies does not apply to them.
//   - The batch buffer is also bounded in bytes (BufferBytes).
//   - Truncation annotates the truncated copy only; Kubernetes' truncate
//     plugin also writes audit.k8s.io/truncated into the request's later
//     events, truncated or not.
//   - No apiserver.latency.k8s.io/* annotations, which Kubernetes adds to
//     requests slower than 500 ms from its own latency trackers.
//   - No webhook backend (--audit-webhook-*); only audit.k8s.io/v1 events.
//   - The metrics are per Auditor, for the caller to register (Collectors);
//     write failures are logged without the events (Kubernetes logs each
//     lost event in its legacy format).
//   - The audit ID is written as given: serving's cuts a client's Audit-ID at
//     64 bytes, where Kubernetes keeps the header whole.
//   - A field's zero value means its default; the flags keep Kubernetes'
//     meaning of 0 (see AddFlags).
//   - Shutdown takes a context: Kubernetes waits for a stalled disk forever.
//
// Kubernetes records a refusal's Status only when it can answer in a media
// type the client accepts; otherwise (Accept: text/html, say) it writes the
// Status as raw JSON without recording it, and the event keeps the code (and,
// for a 401, the message "Authentication failed, ..."). The pipeline chooses
// by calling SetResponseStatus or not.
package audit
