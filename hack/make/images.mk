# Container images: with Docker (docker-build, below), or without it (images: buildah, docs/images.md).

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

# Without Docker: buildah (chroot isolation) from a Debian bookworm root filesystem made with debootstrap,
# OCI archives in .cache/images/oci/ for containerd (docs/images.md). The trainer image reuses .venv's
# wheels (mmcv is not compiled again), hence venv-trainer. Nothing else in the Makefile depends on these.
PAUSE_IMAGE ?= localhost/kubedet-pause:1
IMAGES_BUILD = OPERATOR_IMAGE=$(OPERATOR_IMAGE) TRAINER_IMAGE=$(TRAINER_IMAGE) PAUSE_IMAGE=$(PAUSE_IMAGE) hack/images/build.sh

.PHONY: images
images: venv-trainer ## Build the operator, trainer and pause images without Docker (buildah): OCI archives in .cache/images/oci/.
	@$(IMAGES_BUILD)

.PHONY: images-operator images-trainer images-pause
images-operator: ## Only the operator image (see `images`).
	@$(IMAGES_BUILD) operator
images-trainer: venv-trainer ## Only the trainer image (see `images`).
	@$(IMAGES_BUILD) trainer
images-pause: ## Only the sandbox ("pause") image (see `images`).
	@$(IMAGES_BUILD) pause

.PHONY: images-clean
images-clean: ## Remove the archives, the wheelhouse, buildah's kubedet images and its dangling (cache) images.
	rm -rf .cache/images
	-buildah rmi --force $$(buildah images --format '{{.Name}}:{{.Tag}}' | grep kubedet) >/dev/null 2>&1
	-buildah rmi --prune >/dev/null
