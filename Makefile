# heartbeat — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Targets that rebuild committed models (search, deploy, ptb) pass --force: rebuilding them is what they are for.
# Data: the same resolution inside and outside make: DATA=path (or $HEARTBEAT_DATA), else data/, else the
# embedded sample of 4 real records. `make run DATA=../shared/data` scores on the full shared database.
DATA   ?=
export HEARTBEAT_DATA ?= $(DATA)

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(STAMP) ## create .venv and install heartbeat with its dev extras (a second call returns at once)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -e '.[dev]'
	touch $(STAMP)

test: $(STAMP) ## run every test, slow ones included (what CI runs)
	$(PY) -m pytest

test-fast: $(STAMP) ## run the tests not marked slow
	$(PY) -m pytest -m "not slow"

lint: $(STAMP) ## pyflakes, syntax errors and import order over src/ and tests/ (ruff, configured in pyproject.toml)
	$(VENV)/bin/ruff check src tests bench hypertune.py

run: $(STAMP) ## score every model in models/ on its valid split -> results/output.csv (no data given: the sample -> output_sample.csv)
	$(VENV)/bin/heartbeat score --on valid

run-test: $(STAMP) ## the final evaluation: every model on the test split -> results/output_test.csv
	$(VENV)/bin/heartbeat score --on test

clean: ## remove caches and the virtualenv
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info

.PHONY: help install test test-fast lint run run-test clean

FAMILIES      ?= cnn1d cnn2d gru transformer resnet1d
# five patients (records of de Chazal's DS2) stay out of every search, for the data-shift checks
HOLDOUT       ?= ds2
SEARCH_ARGS   ?= --num-samples 12 --max-epochs 15 --time-budget 12 --holdout $(HOLDOUT)
search: $(STAMP) ## search every family on the real data (~40 min on 2 cores), then fit the baseline
	@test -n "$(HEARTBEAT_DATA)" || { echo "set DATA=path: searches run on real data only"; exit 2; }
	for f in $(FAMILIES); do $(PY) hypertune.py --search gin/search/$$f.gin --name $$f $(SEARCH_ARGS) --force || exit 1; done
	$(VENV)/bin/heartbeat train gin/models/baseline.gin --out models/baseline --holdout $(HOLDOUT) --force

.PHONY: search

# the family whose winner is tuned again for new patients and transferred to PTB
BEST          ?= cnn1d
BEST_ARGS     ?= --num-samples 40 --max-epochs 25 --time-budget 15 --holdout $(HOLDOUT)
search-best: $(STAMP) ## a longer search of BEST (more trials, more epochs) -> models/BEST-long (~15 min)
	@test -n "$(HEARTBEAT_DATA)" || { echo "set DATA=path: searches run on real data only"; exit 2; }
	$(PY) hypertune.py --search gin/search/$(BEST).gin --name $(BEST)-long $(BEST_ARGS) --force

# the winner of search-best retrained with one change each: what augmentation, imbalance handling and width
# are worth on the intra-patient split. Two at a time, one thread each: make -j2 ablate-intra
ABLATE  = $(VENV)/bin/heartbeat train gin/best/$(BEST)-long.gin --holdout $(HOLDOUT) --threads 1 --out $@
ABLATIONS = models/$(BEST)-long-noaug models/$(BEST)-long-nobalance models/$(BEST)-long-lossweight \
            models/$(BEST)-long-narrow
NARROW ?= 'CNN1D.channels = 16'
ablate-intra: $(ABLATIONS) ## BEST-long's winner with one change each -> models/BEST-long-* (make -j2 ablate-intra)
models/$(BEST)-long-noaug: | $(STAMP)
	$(ABLATE) --bind 'fit.augment = None'
models/$(BEST)-long-nobalance: | $(STAMP)
	$(ABLATE) --bind "fit.balance = 'none'"
models/$(BEST)-long-lossweight: | $(STAMP)
	$(ABLATE) --bind "fit.balance = 'loss'"
models/$(BEST)-long-narrow: | $(STAMP)
	$(ABLATE) --bind $(NARROW)

# new patients: BEST with the beat's rhythm, tuned on de Chazal's DS1 (validation by record inside DS1);
# DS2 is seen only by make run-test and make protocol
INTER_ARGS ?= --num-samples 40 --max-epochs 12 --time-budget 25
# Table 3: the DS1 -> DS2 winner, then one change per row, 2 seeds each, 2 at a time (~30 min on 2 cores)
ablate: $(STAMP) ## Table 3: BEST-ds1ds2 with one change per row, 2 seeds -> results/table3/ (rerun: resumes)
	@test -n "$(HEARTBEAT_DATA)" || { echo "set DATA=path: ablations run on real data only"; exit 2; }
	$(VENV)/bin/heartbeat ablate --base gin/best/$(BEST)-ds1ds2.gin --split ds1ds2 --seeds 0 1 --jobs 2

# Table 3's rows judged as selection may judge them: on DS1's 5 patient-grouped folds, pooled (DS2 unused).
# The two slowest rows (ResNet1D, the 5-seed ensemble) are left out unless CV_ONLY= is given empty.
CV_ONLY ?= --only base none 'loss weights (1/n)' sampler 'sqrt sampler' 'conv dropout 0' 'conv dropout 0.3' \
           'channels x0.5' 'channels x2' 'channels x4' 'depth 2' 'depth 4' 'kernel 3' 'kernel 7' \
           'no augmentation' 'no rhythm' 'patient context' 'underlying rhythm only' 'neighbours only' 'template only' \
           'P-wave window' 'GBT baseline' \
           'LDA (de Chazal)' 'LDA + patient context'
ablate-cv: $(STAMP) ## Table 3's rows on DS1's 5 patient-grouped folds, pooled -> results/table3/cv_table.csv (~35 min)
	@test -n "$(HEARTBEAT_DATA)" || { echo "set DATA=path: ablations run on real data only"; exit 2; }
	$(VENV)/bin/heartbeat ablate --base gin/best/$(BEST)-ds1ds2.gin --split ds1ds2 --folds 5 --seeds 0 --jobs 2 $(CV_ONLY)

# The base with per-patient batch-norm statistics (AdaBN, heartbeat.evaluation.adapt), on the same folds.
adapt-cv: $(STAMP) ## the base's fold models scored with and without per-patient batch norm, 3 seeds -> results/table3/adapt_cv_table.csv (~10 min)
	@test -n "$(HEARTBEAT_DATA)" || { echo "set DATA=path: ablations run on real data only"; exit 2; }
	$(VENV)/bin/heartbeat ablate --base gin/best/$(BEST)-ds1ds2.gin --split ds1ds2 --folds 5 --seeds 0 1 2 --jobs 2 --adapt

search-inter: $(STAMP) ## tune BEST with rhythm on DS1 (--split ds1ds2) -> models/BEST-ds1ds2 (~25 min)
	@test -n "$(HEARTBEAT_DATA)" || { echo "set DATA=path: searches run on real data only"; exit 2; }
	$(PY) hypertune.py --search gin/search/inter.gin --name $(BEST)-ds1ds2 --split ds1ds2 $(INTER_ARGS) --force

# The same search with the patient context (heartbeat.data.context) in its space, on DS1's 22 records:
# the search decides on DS1 alone whether the context is used. Then its winner over 3 fit seeds, DS1 valid
# and DS2 side by side (as Table 3's base row: every DS2 score is logged in results/ds1ds2/looks.csv).
search-context: $(STAMP) ## tune BEST with rhythm and the patient context in the space on DS1 -> models/BEST-ds1ds2-context (~25 min)
	@test -n "$(HEARTBEAT_DATA)" || { echo "set DATA=path: searches run on real data only"; exit 2; }
	$(PY) hypertune.py --search gin/search/inter-context.gin --name $(BEST)-ds1ds2-context --split ds1ds2 $(INTER_ARGS) --force
seeds-context: $(STAMP) ## BEST-ds1ds2-context's winner over 3 seeds: DS1 valid and DS2 -> results/ds1ds2/context-search/ (~10 min)
	@test -n "$(HEARTBEAT_DATA)" || { echo "set DATA=path: the protocol runs on real data only"; exit 2; }
	$(VENV)/bin/heartbeat ablate --base gin/best/$(BEST)-ds1ds2-context.gin --split ds1ds2 --seeds 0 1 2 --only base \
		--jobs 2 --out results/ds1ds2/context-search

# The headline of the new-patient issue: the DS1 -> DS2 winner's configuration trained on DS1 with 3 fit
# seeds, each with its recall-first operating point (chosen on DS1 validation), scored on DS2 at the
# annotated beats (protocol) and end to end from detected R peaks as EC57 reports it (ec57). A seed
# folder that exists is kept, so a rerun resumes. Every DS2 score is logged in results/ds1ds2/looks.csv.
SEEDS ?= 0 1 2
SEEDS_DIR = results/ds1ds2/seeds
seeds: $(STAMP) ## BEST-ds1ds2's configuration over 3 fit seeds: train, operate, DS2 from detected peaks (EC57) and annotated -> results/ds1ds2/seeds/ (~10 min)
	@test -n "$(HEARTBEAT_DATA)" || { echo "set DATA=path: the protocol runs on real data only"; exit 2; }
	@for s in $(SEEDS); do m=$(SEEDS_DIR)/models/$(BEST)-ds1ds2-seed$$s; \
	  if [ ! -e $$m/metrics.json ]; then \
	    $(VENV)/bin/heartbeat train gin/best/$(BEST)-ds1ds2.gin --split ds1ds2 --bind "fit.seed = $$s" --threads 2 \
	      --out $$m && $(VENV)/bin/heartbeat operate --model $$m || exit 1; \
	  fi; \
	  $(VENV)/bin/heartbeat ec57 --model $$m --data $(HEARTBEAT_DATA)/mitdb --out $(SEEDS_DIR)/ec57/$(BEST)-ds1ds2-seed$$s \
	    || exit 1; \
	done
	$(VENV)/bin/heartbeat protocol --models $(SEEDS_DIR)/models --out $(SEEDS_DIR)

# the winner's configuration trained on every shared record (paced ones included, so Q is learnt):
# the model to deploy for new patients
deploy: $(STAMP) ## BEST-ds1ds2's configuration trained on every record -> models/BEST-rhythm-all
	$(VENV)/bin/heartbeat train gin/best/$(BEST)-ds1ds2.gin --split intra --threads 2 --out models/$(BEST)-rhythm-all --force

protocol: $(STAMP) ## every ds1ds2 model on DS2: Se and +P per class beside published rows -> results/ds1ds2/
	$(VENV)/bin/heartbeat protocol
	$(VENV)/bin/heartbeat operate --model models/$(BEST)-ds1ds2 --curve results/ds1ds2/tradeoff.csv

ec57: $(STAMP) ## BEST-ds1ds2 on DS2 end to end as ANSI/AAMI EC57 reports it (QRS, VEB, SVEB) -> results/ec57/
	@test -n "$(HEARTBEAT_DATA)" || { echo "set DATA=path: EC57 needs the annotated records"; exit 2; }
	$(VENV)/bin/heartbeat ec57 --model models/$(BEST)-ds1ds2 --data $(HEARTBEAT_DATA)/mitdb --out results/ec57/$(BEST)-ds1ds2
	$(VENV)/bin/heartbeat ec57 --model models/$(BEST)-rhythm-all --data $(HEARTBEAT_DATA)/mitdb --records 208 \
		--out results/ec57/$(BEST)-rhythm-all-208  # the deployed model on record 208's wide V beats

endtoend: $(STAMP) ## BEST-ds1ds2 from detected R peaks vs annotated ones: DS2 -> results/endtoend/, DS1 -> .../ds1/
	$(VENV)/bin/heartbeat endtoend --model models/$(BEST)-ds1ds2 --data $(HEARTBEAT_DATA)/mitdb
	$(VENV)/bin/heartbeat endtoend --model models/$(BEST)-ds1ds2 --data $(HEARTBEAT_DATA)/mitdb --records ds1 \
		--out results/endtoend/ds1

shift: $(STAMP) ## every model on its unseen patients and corrupted test beats -> results/shift/, output_holdout.csv
	$(VENV)/bin/heartbeat shift
	$(VENV)/bin/heartbeat score --on holdout

PTB_FROM ?= $(BEST)-long
PTB_ARGS ?= --task ptb --bind 'fit.beats_per_epoch = 2000' --bind 'fit.epochs = 40' --bind 'fit.patience = 10'
ptb: $(STAMP) ## PTB: from scratch vs fine-tuned from models/PTB_FROM (all layers, head only) -> results/shift/ptb.csv
	$(VENV)/bin/heartbeat train gin/best/$(PTB_FROM).gin $(PTB_ARGS) --out models/ptb/scratch --force
	$(VENV)/bin/heartbeat train gin/best/$(PTB_FROM).gin $(PTB_ARGS) --out models/ptb/finetune --force \
		--bind "fit.init_from = 'models/$(PTB_FROM)'"
	$(VENV)/bin/heartbeat train gin/best/$(PTB_FROM).gin $(PTB_ARGS) --out models/ptb/head-only --force \
		--bind "fit.init_from = 'models/$(PTB_FROM)'" --bind "fit.freeze = 'backbone'"
	$(VENV)/bin/heartbeat score --models models/ptb --on test --out results/shift/ptb.csv

readme: $(STAMP) ## rewrite the README's results block from results/ and models/
	$(VENV)/bin/heartbeat readme

.PHONY: search-best ablate ablate-cv adapt-cv ablate-intra search-inter search-context seeds-context seeds deploy protocol ec57 endtoend shift ptb readme

notebook: $(STAMP) ## execute both notebooks headless (outputs kept): analysis -> results/figures/, manual exploration
	$(VENV)/bin/heartbeat notebook
	$(VENV)/bin/heartbeat notebook --notebook notebooks/manual_exploration.ipynb --timeout 3600

summary: $(STAMP) ## build summary/summary.pdf (2 pages) from results/ and models/
	$(VENV)/bin/heartbeat summary

.PHONY: notebook summary
