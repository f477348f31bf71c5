package telemetry

import "sync"

// children caches the children of a metric vector by their label values.
// WithLabelValues hashes every value and allocates on each call; a vendor
// request and a tool call each made several such lookups. Label sets are
// bounded (instances, methods, status codes, tools), so the cache is too.
type children[K comparable, V any] struct {
	child func(K) V // the vector's WithLabelValues for the key

	mu sync.RWMutex
	m  map[K]V
}

func newChildren[K comparable, V any](child func(K) V) *children[K, V] {
	return &children[K, V]{child: child, m: map[K]V{}}
}

// get is the child for k, looked up once.
func (c *children[K, V]) get(k K) V {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok = c.m[k]; !ok {
		v = c.child(k)
		c.m[k] = v
	}
	return v
}
