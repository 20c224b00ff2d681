package vccsim

// The details below are marked (inferred) in ../shared/vcc-api.md: the
// public VCC documentation is silent on them and this is our best reading.
// They are kept here, in one place, so that evidence against one of them
// changes one line.
const (
	// tokenPath is the token endpoint's path under the auth host.
	tokenPath = "/Auth/connect/token"

	// tokenErrorStatus is the status of an OAuth error response
	// (invalid_client, invalid_scope, unsupported_grant_type).
	tokenErrorStatus = 400

	// acceptUsers is the User Admin API's media type.
	acceptUsers = "application/json"

	// Content API paging: page is 1-based; pageSize defaults to 100, at most 1000.
	contentDefaultPageSize = 100
	contentMaxPageSize     = 1000

	// Users paging uses the same envelope and parameters as Content; with no
	// paging parameter the list is a bare JSON array, as real clients see it.
	usersDefaultPageSize = 100
	usersMaxPageSize     = 1000
)

// Documented details, for contrast.
const (
	acceptContent = "application/vnd.newvoicemedia.v2+json"
	acceptStats   = "application/vnd.newvoicemedia.v3+json"

	contentMaxWindowDays = 7
	statsMaxWindowDays   = 31
	statsDefaultLimit    = 100
	statsMaxLimit        = 1000
)

// The agent id of a user as Content and Stats put it on interactions is
// inferred too: see wire.AgentID.

// Also inferred, and implemented in visibleInteraction: content the
// credential may not see answers 404 exactly as content that does not exist.
