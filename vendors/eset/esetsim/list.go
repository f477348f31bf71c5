package esetsim

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	defaultPageSize = 50
	maxPageSize     = 1000
	maxOrderByChars = 100
	maxPageToken    = 128
)

type orderKey struct {
	name string
	cmp  func(a, b *record) int
	desc bool
}

// orderFields are the vendor's documented orderBy fields. Enums sort by
// their proto number (LOW < MEDIUM < HIGH; OPEN < IN_PROGRESS < CLOSED <
// WAITING_FOR_INPUT), as a proto-backed store does.
var orderFields = map[string]func(a, b *record) int{
	"display_name": func(a, b *record) int { return strings.Compare(a.inc.DisplayName, b.inc.DisplayName) },
	"create_time":  func(a, b *record) int { return a.inc.CreateTime.Compare(b.inc.CreateTime) },
	"update_time":  func(a, b *record) int { return a.inc.UpdateTime.Compare(b.inc.UpdateTime) },
	"severity": func(a, b *record) int {
		return cmp.Compare(enumRank(severities, a.inc.Severity), enumRank(severities, b.inc.Severity))
	},
	"status": func(a, b *record) int {
		return cmp.Compare(enumRank(statuses, a.inc.Status), enumRank(statuses, b.inc.Status))
	},
	"device_uuids.count": func(a, b *record) int {
		return cmp.Compare(len(a.inc.DeviceUUIDs), len(b.inc.DeviceUUIDs))
	},
	"detection_uuids.count": func(a, b *record) int {
		return cmp.Compare(len(a.inc.DetectionUUIDs), len(b.inc.DetectionUUIDs))
	},
}

func orderFieldNames() string {
	names := make([]string, 0, len(orderFields))
	for n := range orderFields {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// parseOrderBy accepts "field[ desc], …". Only " desc" is documented, so
// "asc" is refused rather than guessed at.
func parseOrderBy(s string) ([]orderKey, string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, "", nil
	}
	var keys []orderKey
	var norm []string
	for part := range strings.SplitSeq(s, ",") {
		words := strings.Fields(part)
		if len(words) == 0 || len(words) > 2 || (len(words) == 2 && words[1] != "desc") {
			return nil, "", fmt.Errorf("invalid orderBy term %q: expected a field name optionally followed by \" desc\"", strings.TrimSpace(part))
		}
		f, ok := orderFields[words[0]]
		if !ok {
			return nil, "", fmt.Errorf("unsupported orderBy field %q; supported: %s", words[0], orderFieldNames())
		}
		keys = append(keys, orderKey{words[0], f, len(words) == 2})
		norm = append(norm, strings.Join(words, " "))
	}
	return keys, strings.Join(norm, ","), nil
}

func compareRecords(keys []orderKey) func(a, b *record) int {
	return func(a, b *record) int {
		for _, k := range keys {
			c := k.cmp(a, b)
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		// The uuid tie-break keeps pages stable for any orderBy.
		return strings.Compare(a.inc.UUID, b.inc.UUID)
	}
}

// Page tokens are opaque to clients: a version byte, a hash binding the
// token to its filter and orderBy, the offset of the next page, and a MAC.
// An offset rather than a key set: the vendor's cursor semantics under
// concurrent writes are undocumented, and an offset cursor is the simpler
// honest model (writes between pages may shift items, as they may at ESET).
const pageTokenVersion = 1

func queryBinding(filter, orderBy string) [8]byte {
	h := sha256.Sum256([]byte(filter + "\x00" + orderBy))
	return [8]byte(h[:8])
}

func (s *Server) pageTokenMAC(b []byte) []byte {
	m := hmac.New(sha256.New, s.tokenKey[:])
	m.Write(b)
	return m.Sum(nil)[:8]
}

func (s *Server) encodePageToken(filter, orderBy string, offset int) string {
	b := []byte{pageTokenVersion}
	bind := queryBinding(filter, orderBy)
	b = append(b, bind[:]...)
	b = binary.AppendUvarint(b, uint64(offset))
	b = append(b, s.pageTokenMAC(b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

var errBadPageToken = errors.New("invalid pageToken")

func (s *Server) decodePageToken(tok, filter, orderBy string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 1+8+1+8 || b[0] != pageTokenVersion {
		return 0, errBadPageToken
	}
	body, mac := b[:len(b)-8], b[len(b)-8:]
	if !hmac.Equal(mac, s.pageTokenMAC(body)) {
		return 0, errBadPageToken
	}
	if bind := queryBinding(filter, orderBy); string(body[1:9]) != string(bind[:]) {
		return 0, errors.New("pageToken was issued for a different filter or orderBy")
	}
	off, n := binary.Uvarint(body[9:])
	if n <= 0 || 9+n != len(body) || off > 1<<31 {
		return 0, errBadPageToken
	}
	return int(off), nil
}

type cachedList struct {
	version uint64
	idx     []int32
}

type listResponse struct {
	Incidents     []Incident `json:"incidents"`
	NextPageToken string     `json:"nextPageToken,omitempty"`
}

func (s *Server) list(q url.Values) response {
	filter := q.Get("filter")
	if !utf8.ValidString(filter) {
		return badRequest("filter", "invalid filter: not valid UTF-8", "the filter must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(filter); n > maxFilterChars {
		return badRequest("filter", "invalid filter: too long",
			fmt.Sprintf("the filter has %d characters; at most %d are allowed", n, maxFilterChars))
	}
	orderBy := q.Get("orderBy")
	if n := utf8.RuneCountInString(orderBy); n > maxOrderByChars {
		return badRequest("orderBy", "invalid orderBy: too long",
			fmt.Sprintf("orderBy has %d characters; at most %d are allowed", n, maxOrderByChars))
	}
	keys, normOrder, err := parseOrderBy(orderBy)
	if err != nil {
		return badRequest("orderBy", "invalid orderBy", err.Error())
	}

	pageSize := defaultPageSize
	if v := q.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			return badRequest("pageSize", "invalid pageSize", fmt.Sprintf("pageSize %q is not an integer", v))
		case n < 0:
			return badRequest("pageSize", "invalid pageSize", "pageSize must not be negative")
		case n > maxPageSize:
			pageSize = maxPageSize
		case n > 0:
			pageSize = n
		}
	}

	offset := 0
	if tok := q.Get("pageToken"); tok != "" {
		if len(tok) > maxPageToken {
			return badRequest("pageToken", "invalid pageToken", fmt.Sprintf("pageToken is longer than %d characters", maxPageToken))
		}
		offset, err = s.decodePageToken(tok, filter, orderBy)
		if err != nil {
			return badRequest("pageToken", "invalid pageToken", err.Error())
		}
	}

	var fe *filterError
	s.mu.RLock()
	defer s.mu.RUnlock()
	idx, err := s.matching(filter, keys, normOrder)
	switch {
	case errors.As(err, &fe):
		return badRequest("filter", fe.msg, fe.detail)
	case errors.Is(err, errCostLimit):
		return badRequest("filter", "invalid filter: too expensive to evaluate",
			"simplify the filter; nested comprehensions over large lists are not supported")
	case err != nil:
		return errorResponse(http.StatusInternalServerError, err.Error())
	}

	resp := listResponse{Incidents: []Incident{}}
	end := min(offset+pageSize, len(idx))
	for _, i := range idx[min(offset, end):end] {
		resp.Incidents = append(resp.Incidents, s.recs[i].inc.clone().listView())
	}
	if end < len(idx) {
		resp.NextPageToken = s.encodePageToken(filter, orderBy, end)
	}
	return jsonResponse(http.StatusOK, resp)
}

// matching returns the positions of the matching records in list order. The
// result is cached per dataset version so that paging through 50k records
// filters and sorts once, not once per page. The caller holds s.mu.
func (s *Server) matching(filter string, keys []orderKey, normOrder string) ([]int32, error) {
	cacheKey := filter + "\x00" + normOrder
	s.cacheMu.Lock()
	c, ok := s.listCache[cacheKey]
	s.cacheMu.Unlock()
	if ok && c.version == s.version {
		return c.idx, nil
	}

	idx := make([]int32, 0, len(s.recs))
	if strings.TrimSpace(filter) == "" {
		for i := range s.recs {
			idx = append(idx, int32(i))
		}
	} else {
		prg, err := s.filters.compile(filter)
		if err != nil {
			return nil, err
		}
		var act activation
		for i, r := range s.recs {
			ok, err := match(prg, &act, r)
			if err != nil {
				return nil, err
			}
			if ok {
				idx = append(idx, int32(i))
			}
		}
	}
	// The dataset is stored in the default order (create_time, uuid).
	if len(keys) > 0 {
		cmpRec := compareRecords(keys)
		slices.SortFunc(idx, func(a, b int32) int { return cmpRec(s.recs[a], s.recs[b]) })
	}

	s.cacheMu.Lock()
	if len(s.listCache) >= listCacheSize {
		clear(s.listCache)
	}
	s.listCache[cacheKey] = cachedList{s.version, idx}
	s.cacheMu.Unlock()
	return idx, nil
}
