package discovery

import "k8s.io/kube-openapi/pkg/validation/spec"

// The parameters of the operations, with kube-apiserver's descriptions
// (shortened).

func pathParam(name, description string) spec.Parameter {
	p := queryParam(name, "string", description)
	p.In = "path"
	p.Required = true
	return p
}

func queryParam(name, typ, description string) spec.Parameter {
	return spec.Parameter{
		SimpleSchema: spec.SimpleSchema{Type: typ},
		ParamProps:   spec.ParamProps{Name: name, In: "query", Description: description},
	}
}

func bodyParam(ref string, required bool) spec.Parameter {
	return spec.Parameter{ParamProps: spec.ParamProps{Name: "body", In: "body", Required: required, Schema: spec.RefSchema(ref)}}
}

func listParams() []spec.Parameter {
	return []spec.Parameter{
		queryParam("allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag."),
		queryParam("continue", "string", "The continue option should be set when retrieving more results from the server: its value is the continue token of the previous list."),
		queryParam("fieldSelector", "string", "A selector to restrict the list of returned objects by their fields. Defaults to everything."),
		queryParam("labelSelector", "string", "A selector to restrict the list of returned objects by their labels. Defaults to everything."),
		queryParam("limit", "integer", "limit is a maximum number of responses to return for a list call."),
		queryParam("resourceVersion", "string", "resourceVersion sets a constraint on what resource versions a request may be served from. Defaults to unset."),
		queryParam("resourceVersionMatch", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls. Defaults to unset."),
		queryParam("sendInitialEvents", "boolean", "`sendInitialEvents=true` may be set together with `watch=true`: the stream begins with synthetic events of all the objects."),
		queryParam("timeoutSeconds", "integer", "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity."),
		queryParam("watch", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion."),
	}
}

func writeParams() []spec.Parameter {
	return []spec.Parameter{
		queryParam("dryRun", "string", "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed"),
		queryParam("fieldManager", "string", "fieldManager is a name associated with the actor or entity that is making these changes."),
		queryParam("fieldValidation", "string", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields: Ignore, Warn or Strict."),
	}
}

func patchParams() []spec.Parameter {
	return append(writeParams(), queryParam("force", "boolean", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Must be unset for non-apply patch requests."))
}

func deleteParams() []spec.Parameter {
	return []spec.Parameter{
		queryParam("dryRun", "string", "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed"),
		queryParam("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately."),
		queryParam("propagationPolicy", "string", "Whether and how garbage collection will be performed: 'Orphan', 'Background' or 'Foreground'."),
	}
}
