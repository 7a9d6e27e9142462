# dockyard.migrate: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
FLEET := $(PY) tests/fleet/fleet.py
HOSTS ?= 2

.PHONY: demo test bootstrap unit sanity lint integration fleet-up fleet-down fleet-status clean

demo: bootstrap
	$(FLEET) up --hosts $(HOSTS) >/dev/null
	$(FLEET) seed $$(seq -f 'h%g' 1 $(HOSTS))
	ansible-playbook -i $$($(FLEET) inventory) playbooks/docker_root_report.yml

test: bootstrap
	$(MAKE) --no-print-directory sanity lint
	$(PY) -m pytest tests/unit tests/integration

bootstrap:
	bash scripts/bootstrap.sh

unit:
	$(PY) -m pytest tests/unit

sanity:
	bash scripts/sanity.sh

lint:
	ansible-lint --profile production --offline

integration:
	$(PY) -m pytest tests/integration

fleet-up:
	$(FLEET) up --hosts $(HOSTS)

fleet-down:
	$(FLEET) down

fleet-status:
	$(FLEET) status

clean: fleet-down
	rm -rf $(VENV) collections tests/output .pytest_cache
