// Package driver defines the small interface every vendor integration
// implements, and the contract the portable incidents service relies on.
//
// A driver speaks its vendor's API and nothing else: no MCP, no cursors, no
// confirmation. It translates the pushable part of a query into one native
// request, fetches upstream pages, and normalizes records into
// schema.Incident. It returns its own raw errors; the service classifies them
// once through ErrorCode. Every driver passes vendors/drivertest.
package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
)

// Driver is one vendor integration, bound to one configured instance.
type Driver interface {
	// Info describes the vendor and what its API can do. It never changes.
	Info() Info

	// Plan translates what the vendor can express of q into a native
	// request. The native request must select a SUPERSET of the records
	// that match q.Criteria: the service re-checks every record, so a
	// driver narrows where it can and leaves the rest. Plan does no I/O.
	Plan(q Query) (*Plan, error)

	// List fetches the upstream page of plan at position pos ("" is the
	// first page). Positions are the driver's own strings (a page token, a
	// page number); the same plan and position always address the same
	// page, so the service can resume inside it.
	List(ctx context.Context, plan *Plan, pos string) (*Page, error)

	// Get reads one incident in full, with Details, by its native id.
	Get(ctx context.Context, nativeID string) (*schema.Incident, error)

	// CheckPatch refuses, without I/O, every change Update would fail to
	// make on current: fields the API cannot change (schema.CodeUnsupported),
	// values the vendor does not accept (resolutions, assignee format, text
	// length: schema.CodeInvalidArgument naming the argument), and rules on
	// the incident's state (schema.CodeFailedPrecondition). The service calls
	// it before it shows a preview, so the human is never asked to confirm a
	// change the vendor would refuse. Whatever it accepts, the vendor accepts.
	CheckPatch(current *schema.Incident, patch schema.Patch) error

	// Update applies patch to one incident. A driver that cannot make a
	// change returns an error whose code is schema.CodeUnsupported before
	// writing anything. Steps in the result are the vendor WRITES made, in
	// order; reads done along the way (a tenant lookup, a read-back) are not
	// steps. When a write request was sent and its answer lost, the error
	// wraps ErrOutcomeUnknown.
	Update(ctx context.Context, nativeID string, patch schema.Patch) (*UpdateResult, error)

	// ErrorCode classifies an error returned by this driver.
	ErrorCode(err error) schema.Code
}

// PrefixLister is implemented by a driver whose upstream pages can hold
// many more records than a call needs (Kaspersky always serves 100).
// ListPrefix is List normalizing only the first n records of the page
// (every one when n <= 0): Page.Unread counts the others and Page.Rest
// normalizes them from the answer already read, when the call needs them
// after all. Next, Total and the records are as List gives them.
type PrefixLister interface {
	ListPrefix(ctx context.Context, plan *Plan, pos string, n int) (*Page, error)
}

// Query is what the service asks a driver to plan.
type Query struct {
	// Criteria has every time absolute; its IDs are native ids of this
	// instance (ids of other instances were removed by the service).
	Criteria schema.Criteria
	Order    schema.Order
	// PageSize is the upstream page size the service wants, within
	// Info.MaxPageSize; vendors with a fixed size ignore it.
	PageSize int
	// Fields are the incident fields the filter reads ("*" for all), so a
	// driver can ask for expensive parts (assets, details) only when needed.
	Fields []string
}

// Info is what a driver tells about its vendor.
type Info struct {
	// Vendor is the vendor key: "eset", "kaspersky", "dlp".
	Vendor string
	// MaxPageSize is the largest upstream page the API serves.
	MaxPageSize int
	// ListOmits names incident fields that list results leave out and only
	// Get returns. When a filter reads one, the service reads each candidate
	// with Get before checking it.
	ListOmits []string
	// Sorts are the orders the API can return records in.
	Sorts []schema.Order
	// Updates lists the changes Update can make.
	Updates []schema.PatchField
	// Resolutions are the vendor's own close reasons that its incidents can
	// carry verbatim, beside the normalized schema.Resolutions (DLP's
	// "invalid_other"): what records hold, whether or not the instance may
	// write. The filter language of a deployment accepts exactly the
	// normalized values and those of its configured vendors. Each is a
	// lower-case identifier, no severity or status (filter.NewLanguage
	// says why). It is a list of its own, not Write.Resolutions: that one
	// is what a close takes, normalized values included, and a vendor may
	// carry a reason it no longer lets anyone set. drivertest checks that
	// every record listed or read carries a normalized or declared value,
	// and that every Write.Resolutions value is one of those.
	Resolutions []schema.Resolution
	// Write describes the values a write takes, for the tool description;
	// empty when Updates is.
	Write WriteInfo
	// Notes are short facts a model should know about this vendor.
	Notes []string
	// Sections are the parts of an incident beyond its summary that the
	// driver reads (the section reader interfaces it implements).
	Sections []Section
}

// WriteInfo is what a model needs to know to propose a change the vendor
// takes. CheckPatch enforces it; this only describes it.
type WriteInfo struct {
	// Resolutions are the values a close takes (normalized ones first, then
	// the vendor's own kept verbatim, which Info.Resolutions declares).
	Resolutions []schema.Resolution `json:"resolutions,omitempty"`
	// Assignee says what an assignee value looks like ("an ESET user
	// UUID"), and whether "" unassigns.
	Assignee string `json:"assignee,omitempty"`
	// Comment says where a comment goes and when the vendor keeps one.
	Comment string `json:"comment,omitempty"`
	// MaxTitle and MaxText are the most characters a title, and a
	// description or comment, may have; 0 when the vendor takes none.
	MaxTitle int `json:"max_title,omitempty"`
	MaxText  int `json:"max_text,omitempty"`
}

// Plan is a driver's translation of a Query.
type Plan struct {
	// Native is the request as the vendor sees it (a CEL string, query
	// parameters, a filter object): echoed to the model, never parsed.
	Native any
	// Pushed names the criteria the native request expresses, exactly or as
	// a superset (the argument names of schema.Filter).
	Pushed []string
	// Exact is true when the native request selects exactly the records
	// matching Criteria, so the vendor's total is the true count.
	Exact bool
	// Skip is true when no record can match: the service makes no call.
	Skip bool
	// SkipReason says, with Skip, which criterion this vendor's incidents
	// can never satisfy ("ESET incidents have no tenant"), so that a list
	// over several instances reports it instead of an empty page. Empty
	// when the criteria contradict themselves whatever the vendor.
	SkipReason string
	// Sorted is true when upstream pages come in Query.Order.
	Sorted bool
	// Order says what order records come in, when not Sorted.
	Order string
	// PageSize is the upstream page size the plan uses.
	PageSize int
	// Request is the driver's own prepared request.
	Request any
}

// Page is one upstream page.
type Page struct {
	// Incidents are normalized with ID set to the native id; the service
	// sets Instance and prefixes the id.
	Incidents []schema.Incident
	// Unread counts the records of the page after Incidents that
	// PrefixLister.ListPrefix did not normalize; 0 from List.
	Unread int
	// Rest normalizes those records, without another request; nil when
	// Unread is 0. It is called at most once.
	Rest func() ([]schema.Incident, error)
	// Next is the position of the following page, "" after the last.
	Next string
	// Total counts the records the native request selects, when the vendor
	// says; TotalKnown tells whether it did.
	Total      int
	TotalKnown bool
	// RequestID is the vendor's id for the request, for support.
	RequestID string
	// RawBytes is the size of the vendor's response body.
	RawBytes int
	// Warnings are problems the vendor reported alongside a successful
	// answer (a partial result, say); the service passes them on.
	Warnings []string
	// Done, when not nil, is called once the page's reader is finished with
	// it (Rest is not called after): the driver may then reuse the buffer
	// the page was read into. A page never done with is collected as usual.
	Done func()
}

// UpdateResult reports a write.
type UpdateResult struct {
	// Incident is the state after the write, when the vendor returned it.
	Incident *schema.Incident
	// Steps lists the vendor calls made, in order, and what each did.
	Steps []Step
}

// Step is one vendor call of a write.
type Step struct {
	Call      string `json:"call"`
	OK        bool   `json:"ok"`
	RequestID string `json:"request_id,omitempty"`
	Error     string `json:"error,omitempty"`
}

// HTTPError is the error drivers return for a vendor's non-2xx answer.
type HTTPError struct {
	Method, Path string
	Status       int
	// Message is the vendor's own message, when its body had one.
	Message   string
	RequestID string
	// RetryAfter is how long the vendor asked to wait, when it said.
	RetryAfter time.Duration
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request-id " + e.RequestID + ")"
	}
	return s
}

// CodeForStatus is the usual classification of an HTTP status.
func CodeForStatus(status int) schema.Code {
	switch {
	case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity:
		return schema.CodeInvalidArgument
	case status == http.StatusUnauthorized:
		return schema.CodeUnauthenticated
	case status == http.StatusForbidden:
		return schema.CodePermissionDenied
	case status == http.StatusNotFound:
		return schema.CodeNotFound
	case status == http.StatusConflict || status == http.StatusPreconditionFailed:
		return schema.CodeFailedPrecondition
	case status == http.StatusTooManyRequests:
		return schema.CodeRateLimited
	case status == http.StatusGatewayTimeout:
		return schema.CodeDeadlineExceeded
	case status >= 500:
		return schema.CodeUnavailable
	}
	return schema.CodeInternal
}

// CodeOf is the classification every driver starts from: a refused
// change by its own code, a vendor's HTTP answer by its status
// (CodeForStatus), a call out of time as such, anything else (a transport
// failure, a canceled call) as unavailable. A driver's ErrorCode checks
// what is its own first and ends with CodeOf.
func CodeOf(err error) schema.Code {
	if se, ok := errors.AsType[*schema.Error](err); ok {
		return se.Code
	}
	if he, ok := errors.AsType[*HTTPError](err); ok {
		return CodeForStatus(he.Status)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return schema.CodeDeadlineExceeded
	}
	return schema.CodeUnavailable
}

// ErrOutcomeUnknown marks a write whose request reached the wire but whose
// answer was lost (a reset, a timeout, a truncated body): the vendor may or
// may not have applied it. Drivers wrap it (errors.Is finds it); the service
// audits such a write as "unknown", never "failed", and tells the model to
// re-read the incident before retrying.
var ErrOutcomeUnknown = errors.New("the request was sent but its answer was lost; the vendor may have applied it")

// Limiter paces the requests of one vendor credential. The default is a
// local limiter per instance; a shared one (Redis) makes replicas share the
// vendor's limit. Wait returns the context's error when it cannot wait.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Semaphore bounds the requests of one vendor credential in flight at once
// (DLP allows 5). Acquire blocks within ctx; release must be called once.
type Semaphore interface {
	Acquire(ctx context.Context) (release func(), err error)
}

// Unsatisfiable names the first criterion of c that no incident of a vendor
// can satisfy: a field the vendor does not have (hasField false) or enum
// values none of which it uses. It returns "" when every criterion can
// match. Drivers use it for Plan.SkipReason.
func Unsatisfiable(vendor string, c schema.Criteria, hasField func(arg string) bool, severities []schema.Severity, statuses []schema.Status) string {
	for _, f := range []struct {
		arg string
		set bool
	}{
		{"tenant", c.Tenant != ""}, {"tags", len(c.Tags) > 0}, {"policy_ids", len(c.PolicyIDs) > 0},
		{"user_ids", len(c.UserIDs) > 0}, {"device_ids", len(c.DeviceIDs) > 0},
	} {
		if f.set && !hasField(f.arg) {
			return fmt.Sprintf("%s: %s incidents have no %s", f.arg, vendor, strings.TrimSuffix(f.arg, "_ids"))
		}
	}
	if len(c.Severities) > 0 && !slices.ContainsFunc(c.Severities, func(s schema.Severity) bool { return slices.Contains(severities, s) }) {
		return fmt.Sprintf("severity: %s has no %s severity", vendor, joinAny(c.Severities))
	}
	if len(c.Statuses) > 0 && !slices.ContainsFunc(c.Statuses, func(s schema.Status) bool { return slices.Contains(statuses, s) }) {
		return fmt.Sprintf("status: %s has no %s status", vendor, joinAny(c.Statuses))
	}
	return ""
}

func joinAny[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, " or ")
}

// Class names what kind of failure err is, in words a model and an audit
// reader can act on, and never its text: a transport error's text holds the
// vendor's URL (its host, port and path), which stays in the server log.
// An HTTP answer is its status and the vendor's own message.
func Class(err error) string {
	if err == nil {
		return ""
	}
	prefix := ""
	if errors.Is(err, ErrOutcomeUnknown) {
		prefix = "outcome unknown: "
	}
	if he, ok := errors.AsType[*HTTPError](err); ok {
		s := fmt.Sprintf("HTTP %d %s", he.Status, http.StatusText(he.Status))
		if he.Message != "" {
			s += ": " + he.Message
		}
		return prefix + s
	}
	if se, ok := errors.AsType[*schema.Error](err); ok {
		return prefix + se.Public()
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return prefix + "no answer before the call's deadline"
	case errors.Is(err, context.Canceled):
		return prefix + "the call was cancelled"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return prefix + "the connection was cut before the answer was complete"
	case errors.Is(err, syscall.ECONNREFUSED):
		return prefix + "the vendor refused the connection"
	case errors.As(err, &ne) && ne.Timeout():
		return prefix + "the vendor did not answer in time"
	}
	return prefix + "transport error"
}
