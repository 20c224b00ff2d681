package vccsim

// What the simulator does where ../shared/vcc-api.md is not certain. Each
// entry names the open point ("Open points / inferred", numbered as there)
// it answers and the reading the default takes. Points that a client must
// survive either way are switches in Readings; the others are fixed here,
// in one place, so that evidence against one changes one line.
//
//  1. Content search end: start inclusive, end exclusive by default;
//     Readings.EndInclusive makes end inclusive.
//  2. One token, several scopes: the newest docs allow a space-separated
//     list; the simulator takes one, every entry must be a scope the
//     credential holds, and the token is good for each of them.
//  3. invalid_client is a 400 with the body {"error":"invalid_client"}
//     (tokenErrorStatus); the token response carries no scope field.
//     Token checks run client, grant_type, then scope, as an IdentityServer
//     runs them. Basic credentials win over body credentials.
//  4. Content hidden by permission on get or download: 404, the body of an
//     absent interaction, by default; Readings.HiddenStatus 403 answers 403.
//     A search never shows hidden interactions, under either reading.
//  5. "Access groups of users' content": with it the credential's user sees
//     every group; without it only interactions whose handling agent's
//     reporting group (the agent's first group) is one of
//     Credential.OwnerGroups. Line permissions are not modelled. Screen
//     recording and IVR permissions are not modelled either.
//  6. The agent id: Content handlingAgents[].id, Stats party.id and User
//     Admin agentConfiguration.agentDisplayId are one string (dataset
//     User.AgentID), and GET /users/by/agentDisplayId/{id} finds the agent.
//  7. Content search: limit defaults to 25 (contentDefaultLimit), at most
//     1000; direction takes inbound or outbound, exactly; items come in
//     start order, then by GUID; an internal call has no direction. Stats:
//     limit defaults to 25, at most 5000; rows appear Config.StatsDelay
//     after a call ends, content Config.ContentDelay after.
//  8. User Admin lists: {"meta","users"} and 1-based pages by default;
//     Readings.UsersEnvelope "items" or "bare" and
//     Readings.UsersZeroBasedPages the other readings. The page base holds
//     for every User Admin list (users, a user's groups, a group's users).
//  9. Downloads: bytes served directly (no redirect, no signed URL), no
//     Retry-After on the account limit's 429 (the injected Fault429 sends
//     one, to test that a client honours it), Range per RFC 9110.
//
// Also inferred, without an open point of their own:
//   - The 7-day Content window error reads like the documented 31-day
//     Stats one: {"message":"Request window size limit exceeded 7 days"}.
//   - Other parameter errors are {"message"} on Content and Stats and
//     {"statusCode","error","message"} on User Admin; their texts name the
//     parameter.
//   - A garbage, edited or foreign continuation token is a 400; tokens are
//     bound to start, end, limit and every filter of the first page.
//   - The GUID errors (from the sibling Export API) apply to the Content
//     API's get and download, checked before the lookup; the contentKey
//     syntax of the older doc is enforced; literal keys match
//     case-insensitively.
//   - ISO 8601 date-times without an offset are UTC; a date alone is
//     refused.
//   - Successful JSON is served as the negotiated vnd media type; errors
//     as application/json.
//   - A supervisor-licence credential does not see admin users; a user who
//     is not an agent has a null agentDisplayId and no agentGroups.
//   - The account limit counts the requests it lets through that carry a
//     valid token: before the Accept and parameter checks, after auth.
const (
	// tokenPath is the token endpoint's path under the auth host.
	tokenPath = "/Auth/connect/token"

	// tokenErrorStatus is the status of an OAuth error response
	// (invalid_request, invalid_client, invalid_scope,
	// unsupported_grant_type); open point 3.
	tokenErrorStatus = 400

	// Content search page size; open point 7 (the maximum is Vonage's
	// sample's).
	contentDefaultLimit = 25
	contentMaxLimit     = 1000

	// Stats page size; open point 7.
	statsDefaultLimit = 25
	statsMaxLimit     = 5000
)

// Documented details, for contrast.
const (
	contentMaxWindowDays = 7
	statsMaxWindowDays   = 31

	usersDefaultLimit = 25
	usersMaxLimit     = 5000
)
