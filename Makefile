# Two commands a newcomer needs: `make demo` and `make test`. Both set up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lab lint venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (kmsi)" >/dev/null
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kmsi demo

# `make lab TRAINEE=t1`: the trainee's own workspace and org (training/t1/)
TRAINEE ?= trainee
lab: $(STAMP)
	$(BIN)/kmsi lab --trainee $(TRAINEE)

test: $(STAMP)
	$(BIN)/ruff check kmsi_lib tests notebooks training
	$(BIN)/ruff format --check kmsi_lib tests notebooks training
	$(BIN)/mypy
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) evidence .pytest_cache .mypy_cache
