"""Gates: one module per gate, one function each, all returning GateResults.
The preflight ones are listed, in the order the DAG runs them, in gonogo.gates.preflight."""
