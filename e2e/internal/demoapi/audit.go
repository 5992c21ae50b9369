package demoapi

// AuditPolicy is the audit policy the demo and the audit scenario give the
// example server (--audit-policy-file): every widgets request at Metadata
// level, once it is answered.
const AuditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  resources: [{group: demo.aggauth.io, resources: [widgets]}]
- level: None
`
