// Package evals measures how well and how cheaply a model can use the
// server: token budgets of tools/list, the prompts and typical results
// (counted offline with the o200k_base tokenizer, which embeds its
// vocabulary), analyst scenarios run against the demo whose expected
// answers are computed from the simulators' own datasets, executable
// documentation (every example call in the README, the tool descriptions
// and the prompts runs against the demo), and an opt-in run with a real
// model (make evals-live).
//
// The deterministic parts run in make test. Everything here drives the
// server as a client does: through an MCP client over the real tools.
package evals
