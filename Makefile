# Two entry points that do all set-up on a fresh machine:
#   make demo   the quickstart recipe: demo teacher -> pruned, distilled student -> verified artifacts
#   make test   the full test suite (what .ci/run calls)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# llama-cpp-python compiles llama.cpp from source; two cores is what CI has.
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

$(BIN)/edgeslm: pyproject.toml scripts/install_llama_cpp.py edgeslm/llama_build.py
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# llama.cpp first, with the CPU features we choose (never AMX): pip would build it -march=native
	$(BIN)/python scripts/install_llama_cpp.py
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

.PHONY: venv demo test clean
# The llama.cpp check runs every time (well under a second when nothing changed), so a venv
# that moved to a machine with other CPU features gets a build for that machine.
venv: $(BIN)/edgeslm
	@$(BIN)/python scripts/install_llama_cpp.py

demo: venv
	$(BIN)/edgeslm run examples/recipes/quickstart.toml

test: venv
	@sh scripts/install_test_tools.sh
	$(BIN)/python -m pytest -q

clean:
	rm -rf build .pytest_cache
