# Two entry points, each doing its own set-up (see README.md):
#   make demo   build the environment, then run the main job on the embedded data
#   make test   build the environment, then lint and run the test suite
# The environment is cached outside the clone (scripts/env.sh).
# For maintainers: make bench re-runs the speed benchmarks that README "Results" quotes
# (step cost, relevance, dropper, ops, start-up) and overwrites benchmarks/results/ with
# them: run it on a quiet machine. The accuracy studies are run by hand (hours).

PY = .venv/bin/python

.PHONY: env demo test bench

env:
	@bash scripts/env.sh >/dev/null

demo: env
	$(PY) -m reldrop3d demo

test: env
	$(PY) -m ruff check reldrop3d tests benchmarks
	$(PY) -m pytest -q

bench: env
	$(PY) benchmarks/step_cost.py
	$(PY) benchmarks/relevance_speed.py
	$(PY) benchmarks/dropper_speed.py
	$(PY) benchmarks/ops_speed.py
	$(PY) benchmarks/startup.py
