# Container images. Building needs Docker (or a compatible CLI in DOCKER); the devcluster needs none.

DOCKER ?= docker
OPERATOR_IMAGE ?= kubedet-operator:dev
TRAINER_IMAGE ?= kubedet-trainer:dev

##@ Images

.PHONY: docker-build
docker-build: docker-check ## Build the operator and trainer images (OPERATOR_IMAGE, TRAINER_IMAGE).
	$(DOCKER) build -f operator/Dockerfile -t $(OPERATOR_IMAGE) .
	$(DOCKER) build -f trainer_image/Dockerfile -t $(TRAINER_IMAGE) .

.PHONY: docker-check
docker-check:
	@command -v $(DOCKER) >/dev/null 2>&1 || { \
	  echo "Docker is missing: '$(DOCKER)' is not on PATH, so no image can be built on this machine." >&2; \
	  echo "Without Docker, use the devcluster: make demo (the operator runs as a local process)." >&2; \
	  exit 2; }
	@$(DOCKER) info >/dev/null 2>&1 || { \
	  echo "Docker is installed but its daemon does not answer ('$(DOCKER) info' failed): start it first." >&2; \
	  exit 2; }
