# dockyard.migrate: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# The tests' and the demo's Ansible settings (the fleet); nothing at the top of the tree leaks into a
# user's own runs from a clone.
export ANSIBLE_CONFIG := $(CURDIR)/tests/ansible.cfg
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
FLEET := $(PY) tests/fleet/fleet.py
HOSTS ?= 2

.PHONY: demo test bootstrap unit sanity lint integration reliability crash-matrix molecule bench changelog fleet-up fleet-down fleet-status clean

demo: bootstrap
	$(FLEET) up --hosts $(HOSTS) >/dev/null
	$(FLEET) reset $$(seq -f 'h%g' 1 $(HOSTS)) >/dev/null
	$(FLEET) seed $$(seq -f 'h%g' 1 $(HOSTS))
	@echo "== The fleet before: Docker on the system disk"
	ansible-playbook -i $$($(FLEET) inventory) playbooks/docker_root_report.yml
	@echo "== Moving every host's Docker data root to its data disk (/mnt/data/docker)"
	ansible-playbook -i $$($(FLEET) inventory) playbooks/migrate_docker_root.yml \
		-e docker_root_target=/mnt/data/docker -e migrate_report_file=$(CURDIR)/demo-report.json \
		-e docker_root_progress_interval=1
	@echo "== The same run again: nothing to do"
	ansible-playbook -i $$($(FLEET) inventory) playbooks/migrate_docker_root.yml \
		-e docker_root_target=/mnt/data/docker -e migrate_report_file=$(CURDIR)/demo-report.json | tail -n 12
	@echo "== The fleet after: Docker on the data disk through a bind mount"
	ansible-playbook -i $$($(FLEET) inventory) playbooks/docker_root_report.yml

# sanity, lint, bandit and the later host image builds run beside pytest (scripts/test.sh).
test: bootstrap
	bash scripts/test.sh

bootstrap:
	bash scripts/bootstrap.sh

unit:
	$(PY) -m pytest tests/unit

sanity:
	bash scripts/sanity.sh

lint:
	ansible-lint --profile production --offline
	$(PY) -m bandit -q -r plugins -c tests/bandit.yml

integration:
	$(PY) -m pytest tests/integration

# The only target that rewrites docs/reliability.md (when both suites pass whole).
reliability:
	DOCKYARD_WRITE_RELIABILITY=1 $(PY) -m pytest tests/integration/test_bad_input.py tests/integration/test_reliability.py \
		tests/integration/test_window.py tests/integration/test_faults.py tests/integration/test_hosts.py \
		tests/integration/test_versions.py tests/integration/test_recovery.py

# Every failpoint of a move and of its rollback x {bind, daemon_json} x {a kill; a kill, a reboot, Docker writing},
# then the same run again; rewrites docs/crash-matrix.md when every case passed.  `make test` runs a selection.
crash-matrix: bootstrap
	DOCKYARD_CRASH_MATRIX=all $(PY) -m pytest tests/integration/test_crash_matrix.py

bench: bootstrap
	$(PY) bench/bench.py $(BENCH_ARGS)

changelog:
	$(PY) scripts/changelog.py

# The sandbox scenarios (your_hosts runs on hosts you name: see its molecule.yml).
molecule:
	cd extensions && for s in bind containerd_store daemon_json; do molecule test -s $$s || exit 1; done

fleet-up:
	$(FLEET) up --hosts $(HOSTS)

fleet-down:
	$(FLEET) down

fleet-status:
	$(FLEET) status

clean: fleet-down
	rm -rf $(VENV) collections tests/output .pytest_cache

# The AWX execution environment (awx/execution-environment.yml), built with ansible-builder on the local Docker
# engine; rebuilt only when a hash of its inputs changed. tests/integration/test_awx_ee.py runs it.
.PHONY: ee
ee: bootstrap
	bash awx/build-ee.sh
