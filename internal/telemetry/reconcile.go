package telemetry

// SetUnreconciled reports, after reconciliation at start, how many writes
// a crash interrupted whose outcome is still unknown: /readyz shows it as
// unreconciled_writes and the gauge incident_mcp_audit_writes_unknown
// carries it.
func (m *Metrics) SetUnreconciled(n int) {
	m.unreconciled.Set(float64(n))
	m.health.unreconciled.Store(int64(n))
	m.health.reconciled.Store(true)
}
