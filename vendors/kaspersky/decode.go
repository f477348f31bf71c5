package kaspersky

import (
	"bytes"
	"sync"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/incident-mcp/incident-mcp/vendors/internal/wire"
)

// recordSpans is a list record as UnmarshalJSONFrom reads it, before its
// strings are made: spans of the record's text.
type recordSpans struct {
	internalID, tenantID, name, description wire.Span
	severity, status, resolution, priority  wire.Span
	alertIDs                                wire.List
	assignee                                refSpans
	hasAssignee                             bool
	assets                                  []assetSpans
	tactics, techniques                     []refSpans
	hasAssets, hasTactics, hasTechniques    bool
	number                                  int64
	createdAt, updatedAt, statusChangedAt   time.Time
}

type refSpans struct{ id, name wire.Span }

type assetSpans struct {
	id, name, typ, host, user wire.Span
	hasHost, hasUser          bool
}

var recordScratch = sync.Pool{New: func() any { return new(recordSpans) }}

// UnmarshalJSONFrom reads a list record without reflection, as the v2
// engine would read it into wireIncident's fields (wire.Reader's
// tolerance), with one string for the record's text and one slice for
// each of its lists: decoding the records was most of a Kaspersky call's
// allocations (about 30 a record).
func (w *wireIncident) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	r := wire.ReaderOn(dec)
	defer r.Release()
	s := recordScratch.Get().(*recordSpans)
	defer recordScratch.Put(s)
	*s = recordSpans{assets: s.assets[:0], tactics: s.tactics[:0], techniques: s.techniques[:0]}
	*w = wireIncident{}
	if r.Object() {
		for r.Next() {
			switch {
			case r.Is("ID"):
				s.number, _ = r.Int()
			case r.Is("INTERNALID"):
				s.internalID = r.String()
			case r.Is("TENANTID"):
				s.tenantID = r.String()
			case r.Is("NAME"):
				s.name = r.String()
			case r.Is("DESCRIPTION"):
				s.description = r.String()
			case r.Is("ASSETS"):
				s.assets, s.hasAssets = s.assets[:0], r.Array()
				for s.hasAssets && r.More() {
					s.assets = append(s.assets, readAsset(r))
				}
			case r.Is("ALERTIDS"):
				s.alertIDs = r.StringList()
			case r.Is("ASSIGNEE"):
				s.assignee, s.hasAssignee = readRef(r)
			case r.Is("CREATEDAT"):
				s.createdAt = readTime(r)
			case r.Is("UPDATEDAT"):
				s.updatedAt = readTime(r)
			case r.Is("STATUSCHANGEDAT"):
				s.statusChangedAt = readTime(r)
			case r.Is("MITRETACTICS"):
				s.tactics, s.hasTactics = readRefs(r, s.tactics[:0])
			case r.Is("MITRETECHNIQUES"):
				s.techniques, s.hasTechniques = readRefs(r, s.techniques[:0])
			case r.Is("SEVERITY"):
				s.severity = r.String()
			case r.Is("STATUS"):
				s.status = r.String()
			case r.Is("STATUSRESOLUTION"):
				s.resolution = r.String()
			case r.Is("PRIORITY"):
				s.priority = r.String()
			default:
				r.Skip()
			}
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	text := r.Text()
	*w = wireIncident{
		ID: s.number, InternalID: s.internalID.In(text), TenantID: s.tenantID.In(text),
		Name: s.name.In(text), Description: s.description.In(text),
		AlertIDs:  s.alertIDs.In(r.Strings(text)),
		CreatedAt: vtime{s.createdAt}, UpdatedAt: vtime{s.updatedAt}, StatusChangedAt: vtime{s.statusChangedAt},
		Severity: s.severity.In(text), Status: s.status.In(text), Resolution: s.resolution.In(text), Priority: s.priority.In(text),
	}
	// One slice holds the assignee and both MITRE lists.
	refs := make([]wireRef, 0, b2i(s.hasAssignee)+len(s.tactics)+len(s.techniques))
	if s.hasAssignee {
		refs = append(refs, wireRef{ID: s.assignee.id.In(text), Name: s.assignee.name.In(text)})
		w.Assignee = &refs[0]
	}
	w.MITRETactics, refs = refList(refs, s.tactics, s.hasTactics, text)
	w.MITRETechniques, _ = refList(refs, s.techniques, s.hasTechniques, text)
	if s.hasAssets {
		w.Assets = make([]wireAsset, len(s.assets))
		hosts, users := 0, 0
		for _, a := range s.assets {
			hosts, users = hosts+b2i(a.hasHost), users+b2i(a.hasUser)
		}
		hostInfos, userInfos := make([]hostInfo, 0, hosts), make([]userInfo, 0, users)
		for i, a := range s.assets {
			w.Assets[i] = wireAsset{ID: a.id.In(text), Name: a.name.In(text), Type: a.typ.In(text)}
			if a.hasHost {
				hostInfos = append(hostInfos, hostInfo{DisplayName: a.host.In(text)})
				w.Assets[i].HostInfo = &hostInfos[len(hostInfos)-1]
			}
			if a.hasUser {
				userInfos = append(userInfos, userInfo{DisplayName: a.user.In(text)})
				w.Assets[i].UserInfo = &userInfos[len(userInfos)-1]
			}
		}
	}
	return nil
}

// refList appends spans' references to refs (which has room for them) and
// returns them as a list of their own: nil when no array was read.
func refList(refs []wireRef, spans []refSpans, set bool, text string) (list, rest []wireRef) {
	if !set {
		return nil, refs
	}
	start := len(refs)
	for _, s := range spans {
		refs = append(refs, wireRef{ID: s.id.In(text), Name: s.name.In(text)})
	}
	return refs[start:len(refs):len(refs)], refs
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func readRef(r *wire.Reader) (ref refSpans, ok bool) {
	if !r.Object() {
		return refSpans{}, false
	}
	for r.Next() {
		switch {
		case r.Is("ID"):
			ref.id = r.String()
		case r.Is("NAME"):
			ref.name = r.String()
		default:
			r.Skip()
		}
	}
	return ref, true
}

// readRefs reads an array of references onto refs; set is false for null.
func readRefs(r *wire.Reader, refs []refSpans) (out []refSpans, set bool) {
	if !r.Array() {
		return refs, false
	}
	for r.More() {
		ref, _ := readRef(r) // null is a zero reference
		refs = append(refs, ref)
	}
	return refs, true
}

func readAsset(r *wire.Reader) (a assetSpans) {
	if !r.Object() {
		return a
	}
	for r.Next() {
		switch {
		case r.Is("ID"):
			a.id = r.String()
		case r.Is("NAME"):
			a.name = r.String()
		case r.Is("TYPE"):
			a.typ = r.String()
		case r.Is("HOSTINFO"):
			a.host, a.hasHost = readDisplayName(r)
		case r.Is("USERINFO"):
			a.user, a.hasUser = readDisplayName(r)
		default:
			r.Skip()
		}
	}
	return a
}

// readDisplayName reads HostInfo or UserInfo for its display name; ok is
// false for null.
func readDisplayName(r *wire.Reader) (name wire.Span, ok bool) {
	if !r.Object() {
		return wire.Span{}, false
	}
	for r.Next() {
		if r.Is("DISPLAYNAME") {
			name = r.String()
		} else {
			r.Skip()
		}
	}
	return name, true
}

// readTime reads a timestamp as vtime does: whatever the value, what is not
// an RFC 3339 time is the zero time.
func readTime(r *wire.Reader) time.Time {
	b := bytes.Trim(r.Raw(), `"`)
	var t time.Time
	if t.UnmarshalText(b) == nil { // RFC 3339 without a string per value
		return t.UTC()
	}
	var v vtime
	_ = v.UnmarshalJSON(b) // what the strict form refuses, time.Parse may read
	return v.Time
}
