"""s3:// and https:// through the trainer's storage layer, against servers this test starts on 127.0.0.1.

S3 is moto's ThreadedMotoServer with IAM authentication enforced: only the access key of an IAM user the
fixture creates is accepted, so a passing read proves the credentials in the environment reached s3fs.
https is http.server behind TLS with a certificate the fixture generates for 127.0.0.1; the trainer trusts
it only through SSL_CERT_FILE. Nothing leaves the loopback interface.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import http.server
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from kubedet.api.dataset import DatasetSpec
from kubedet.api.preflight import PREFLIGHT_SPEC_ENV, PreflightReport, PreflightSpec
from kubedet.api.runspec import EXIT_STORAGE_UNAVAILABLE, RunDataset, TrainerFailure, TrainerStatistics
from kubedet_trainer.errors import ConfigInvalid, StorageUnavailable, failure_from_exception
from kubedet_trainer.storage import Storage

pytest.importorskip("s3fs")
pytest.importorskip("PIL")
moto_server = pytest.importorskip("moto.server")

ROOT = Path(__file__).resolve().parents[3]
BUCKET = "kubedet-data"
CLASSES = ["circle", "square"]
WRONG_SECRET = "wrong-secret-value-that-must-never-be-printed"


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll check every 20 ms until it holds; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- a small COCO dataset, written to a local folder and uploaded ---


@pytest.fixture(scope="module")
def dataset_files(
    tmp_path_factory: pytest.TempPathFactory, shapes_dataset_writer: Callable[[Path], Path]
) -> Path:
    """shapes/: train.json (4 images), val.json (2 images) and images/*.png, all valid."""
    return shapes_dataset_writer(tmp_path_factory.mktemp("dataset") / "shapes")


def dataset_spec(source: str) -> RunDataset:
    spec = DatasetSpec.model_validate(
        {
            "source": {"uri": source},
            "annotations": {"splits": {"train": "train.json", "val": "val.json"}},
            "images": "images",
            "classes": CLASSES,
        }
    )
    return RunDataset(name="shapes", spec=spec)


# --- S3: moto on 127.0.0.1 with IAM authentication ---


@dataclass
class S3Store:
    endpoint: str
    key_id: str
    secret: str

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret,
        )

    def keys(self, prefix: str) -> list[str]:
        listing = self.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def read(self, key: str) -> bytes:
        return bytes(self.client().get_object(Bucket=BUCKET, Key=key)["Body"].read())


@pytest.fixture(scope="module")
def s3_store(dataset_files: Path) -> Iterator[S3Store]:
    """moto's S3 on 127.0.0.1 (a free port), an IAM user allowed s3:*, the bucket and the dataset in it."""
    import logging

    import boto3
    from moto.core.authorization import enable_iam_authentication

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        wait_until(lambda: accepts_connections(port), 10, "moto's S3 endpoint")
        # Before authentication is enforced moto takes any key: create the one it will accept afterwards.
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )
        iam.create_user(UserName="trainer")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName="trainer", PolicyName="s3", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="trainer")["AccessKey"]
        store = S3Store(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
        with enable_iam_authentication():
            client = store.client()
            client.create_bucket(Bucket=BUCKET)
            for path in sorted(dataset_files.rglob("*")):
                if path.is_file():
                    client.upload_file(str(path), BUCKET, f"shapes/{path.relative_to(dataset_files)}")
            yield store
    finally:
        # moto keeps its buckets in this process's memory, beyond the server's life: drop them.
        reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(reset, timeout=10).close()
        server.stop()


def isolate_from_host_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS setting of this machine leaks in, and botocore never asks an instance-metadata service."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")


@pytest.fixture
def s3_env(s3_store: S3Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """The pod's environment as the operator builds it: the Secret's keys by envFrom, nothing else."""
    isolate_from_host_aws(monkeypatch, tmp_path)
    secret = {
        "AWS_ACCESS_KEY_ID": s3_store.key_id,
        "AWS_SECRET_ACCESS_KEY": s3_store.secret,
        "AWS_ENDPOINT_URL": s3_store.endpoint,
    }
    for name, value in secret.items():
        monkeypatch.setenv(name, value)
    return secret


def assert_secret_free(error: BaseException, *secrets: str) -> None:
    """Neither the message nor the termination message (with its traceback lines) holds a secret."""
    written = failure_from_exception(error).serialize()
    for secret in secrets:
        assert secret not in str(error), str(error)
        assert secret not in written, written


def test_fetch_an_s3_file_and_folder(s3_env: dict[str, str], dataset_files: Path, tmp_path: Path) -> None:
    storage = Storage()
    annotation = storage.fetch(f"s3://{BUCKET}/shapes/train.json", tmp_path / "cache")
    assert annotation.read_bytes() == (dataset_files / "train.json").read_bytes()
    folder = storage.fetch(f"s3://{BUCKET}/shapes/images", tmp_path / "cache")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        p.name for p in (dataset_files / "images").iterdir()
    )
    assert (folder / "img_101.png").read_bytes() == (dataset_files / "images" / "img_101.png").read_bytes()
    assert not list((tmp_path / "cache").glob("*.partial"))
    # A second fetch is served from the cache folder.
    assert storage.fetch(f"s3://{BUCKET}/shapes/train.json", tmp_path / "cache") == annotation


def test_exists_on_s3(s3_env: dict[str, str]) -> None:
    storage = Storage()
    assert storage.exists(f"s3://{BUCKET}/shapes/val.json")
    assert storage.exists(f"s3://{BUCKET}/shapes/images")
    assert not storage.exists(f"s3://{BUCKET}/shapes/missing.json")
    assert not storage.exists("s3://no-such-bucket/shapes/val.json")


def test_the_s3_specific_endpoint_wins_over_the_generic_one(
    s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_env["AWS_ENDPOINT_URL"])
    assert Storage().exists(f"s3://{BUCKET}/shapes/val.json")


def test_s3_options_come_from_the_storage_environment() -> None:
    environ = {
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret-example",
        "AWS_SESSION_TOKEN": "token-example",
        "AWS_ENDPOINT_URL": "http://minio.storage.svc:9000",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_CA_BUNDLE": "/etc/ssl/private-ca.pem",
    }
    options = Storage(environ).s3_options()
    assert options["key"] == "AKIAEXAMPLE" and options["secret"] == "secret-example"
    assert options["token"] == "token-example"
    assert options["endpoint_url"] == "http://minio.storage.svc:9000"
    assert options["config_kwargs"] == {"s3": {"addressing_style": "path"}}
    assert options["client_kwargs"] == {"region_name": "eu-west-1", "verify": "/etc/ssl/private-ca.pem"}
    # Nothing set: botocore's own chain (web identity, instance profile) decides.
    assert Storage({}).s3_options() == {"use_listings_cache": False}


def test_prepare_dataset_from_s3(s3_env: dict[str, str], tmp_path: Path) -> None:
    from kubedet_trainer.datasets import prepare_dataset

    prepared = prepare_dataset(dataset_spec(f"s3://{BUCKET}/shapes"), Storage(), tmp_path / "data")
    assert {name: c.images for name, c in prepared.counts.items()} == {"train": 4, "val": 2}
    assert sorted(p.name for p in prepared.images_dir.iterdir()) == [
        "img_1.png",
        "img_101.png",
        "img_102.png",
        "img_2.png",
        "img_3.png",
        "img_4.png",
    ]


def run_trainer(args: list[str], env: dict[str, str], tmp_path: Path) -> tuple[int, str, str]:
    termination = tmp_path / "termination-log"
    result = subprocess.run(
        [sys.executable, "-m", "kubedet_trainer", *args],
        env={
            **os.environ,
            "KUBEDET_TERMINATION_LOG": str(termination),
            "PYTHONPATH": f"{ROOT / 'operator'}:{ROOT / 'trainer_image'}",
            **env,
        },
        text=True,
        capture_output=True,
        timeout=180,
    )
    return result.returncode, termination.read_text() if termination.exists() else "", result.stderr


def test_preflight_command_reads_a_dataset_from_s3(s3_env: dict[str, str], tmp_path: Path) -> None:
    spec = PreflightSpec(dataset=dataset_spec(f"s3://{BUCKET}/shapes")).model_dump_json(by_alias=True)
    code, message, stderr = run_trainer(
        ["preflight", "--spec-env", PREFLIGHT_SPEC_ENV], {PREFLIGHT_SPEC_ENV: spec}, tmp_path
    )
    assert code == 0, stderr
    report = PreflightReport.model_validate_json(message)
    assert report.images == 6 and report.annotations == 12
    assert report.splits.train.images == 4 and report.splits.val.images == 2
    assert [(c.name, c.annotations) for c in report.classes] == [("circle", 6), ("square", 6)]


def test_preflight_command_with_a_wrong_secret_fails_as_storage_unavailable(
    s3_env: dict[str, str], tmp_path: Path
) -> None:
    spec = PreflightSpec(dataset=dataset_spec(f"s3://{BUCKET}/shapes")).model_dump_json(by_alias=True)
    code, message, stderr = run_trainer(
        ["preflight", "--spec-env", PREFLIGHT_SPEC_ENV],
        {PREFLIGHT_SPEC_ENV: spec, "AWS_SECRET_ACCESS_KEY": WRONG_SECRET},
        tmp_path,
    )
    assert code == EXIT_STORAGE_UNAVAILABLE, stderr
    failure = TrainerFailure.model_validate_json(message)
    assert failure.reason.value == "StorageUnavailable"
    assert f"s3://{BUCKET}/shapes/train.json" in failure.message
    assert "AWS_SECRET_ACCESS_KEY" in failure.message
    assert WRONG_SECRET not in message and WRONG_SECRET not in stderr


def test_publish_puts_the_artifacts_in_the_bucket(
    s3_env: dict[str, str], s3_store: S3Store, tmp_path: Path
) -> None:
    torch = pytest.importorskip("torch")
    from kubedet_trainer.results import RunOutcome, publish

    work = tmp_path / "work"
    work.mkdir()
    best = work / "epoch_2.pth"
    torch.save(
        {"meta": {"dataset_meta": {"classes": CLASSES}}, "state_dict": {"w": torch.ones(2)}, "optimizer": {}},
        best,
    )
    config = work / "config.py"
    config.write_text("model = dict(type='RTMDet')\n")
    metrics = {"coco/bbox_mAP": 0.5, "coco/bbox_mAP_50": 0.8, "coco/circle_precision": 0.4}
    outcome = RunOutcome(
        best_epoch=2,
        best_metrics=metrics,
        history={1: {"coco/bbox_mAP": 0.3}, 2: metrics},
        best_checkpoint=best,
        config_file=config,
        classes=CLASSES,
        statistics=TrainerStatistics(
            duration_seconds=3.0, total_parameters=2, epochs=2, learning_rate=0.01, best_epoch=2
        ),
        lineage=None,
        train_history={1: {"loss": 1.0}, 2: {"loss": 0.5}},
    )
    output = f"s3://{BUCKET}/models/team-a/run-1-0000"
    result = publish(outcome, Storage(), output, tmp_path / "artifacts")

    keys = s3_store.keys("models/team-a/run-1-0000/")
    for name in ("checkpoint.pth", "config.py", "metrics.json", "result.json"):
        assert f"models/team-a/run-1-0000/{name}" in keys, keys
    assert result.checkpoint_uri == f"{output}/checkpoint.pth"
    stored = s3_store.read("models/team-a/run-1-0000/checkpoint.pth")
    assert hashlib.sha256(stored).hexdigest() == result.digests["checkpoint"]
    assert json.loads(s3_store.read("models/team-a/run-1-0000/result.json"))["checkpointUri"] == (
        result.checkpoint_uri
    )
    assert json.loads(s3_store.read("models/team-a/run-1-0000/metrics.json"))["bestEpoch"] == 2


def test_a_checkpoint_above_the_multipart_threshold_arrives_whole(
    s3_env: dict[str, str], s3_store: S3Store, tmp_path: Path
) -> None:
    """s3fs uploads files of 100 MiB and more in parts (a Faster R-CNN checkpoint is ~240 MB)."""
    big = tmp_path / "checkpoint.pth"
    block = hashlib.sha256(b"kubedet").digest() * (1 << 15)  # 1 MiB
    with big.open("wb") as stream:
        for number in range(101):
            stream.write(number.to_bytes(4, "big") + block[4:])
    uri = f"s3://{BUCKET}/models/team-a/run-3-0000/checkpoint.pth"
    Storage().put(big, uri)
    head = s3_store.client().head_object(Bucket=BUCKET, Key="models/team-a/run-3-0000/checkpoint.pth")
    assert head["ContentLength"] == big.stat().st_size
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]  # three parts: 50 + 50 + 1 MiB
    fetched = Storage().fetch(uri, tmp_path / "cache")
    assert hashlib.sha256(fetched.read_bytes()).digest() == hashlib.sha256(big.read_bytes()).digest()
    Storage().remove(uri)
    assert s3_store.keys("models/team-a/run-3-0000/") == []


def test_resume_folder_round_trip_and_cleanup_on_s3(
    s3_env: dict[str, str], s3_store: S3Store, tmp_path: Path
) -> None:
    pytest.importorskip("mmengine")
    from kubedet_trainer.resume import ResumeMirror, ResumeState

    output = f"s3://{BUCKET}/models/team-a/run-2-0000"
    first = tmp_path / "first"
    first.mkdir()
    (first / "epoch_1.pth").write_bytes(b"latest weights")
    (first / "best_coco_bbox_mAP_epoch_1.pth").write_bytes(b"best weights")
    state = ResumeState("epoch_1.pth", "best_coco_bbox_mAP_epoch_1.pth", {1: {"coco/bbox_mAP": 0.2}})
    ResumeMirror(Storage(), output, first).save(state)
    assert s3_store.keys("models/team-a/run-2-0000/_resume/") == [
        "models/team-a/run-2-0000/_resume/best_coco_bbox_mAP_epoch_1.pth",
        "models/team-a/run-2-0000/_resume/epoch_1.pth",
        "models/team-a/run-2-0000/_resume/state.json",
    ]

    # A restarted pod: an empty work directory, a new process, the checkpoints come back from the bucket.
    second = tmp_path / "second"
    mirror = ResumeMirror(Storage(), output, second)
    restored = mirror.restore()
    assert restored is not None and restored.latest == "epoch_1.pth"
    assert restored.history == {1: {"coco/bbox_mAP": 0.2}}
    assert (second / "epoch_1.pth").read_bytes() == b"latest weights"
    assert (second / "best_coco_bbox_mAP_epoch_1.pth").read_bytes() == b"best weights"

    mirror.clear()
    assert s3_store.keys("models/team-a/run-2-0000/_resume/") == []
    assert ResumeMirror(Storage(), output, tmp_path / "third").restore() is None


@pytest.mark.parametrize(
    ("case", "uri", "expected"),
    [
        ("wrong secret", f"s3://{BUCKET}/shapes/train.json", "AWS_SECRET_ACCESS_KEY"),
        ("unknown key id", f"s3://{BUCKET}/shapes/train.json", "AWS_ACCESS_KEY_ID"),
        ("no credentials", f"s3://{BUCKET}/shapes/train.json", "secretRef"),
        ("missing bucket", "s3://no-such-bucket/shapes/train.json", "bucket does not exist"),
        ("missing key", f"s3://{BUCKET}/shapes/missing.json", "check the bucket and path"),
        ("unreachable endpoint", f"s3://{BUCKET}/shapes/train.json", "AWS_ENDPOINT_URL"),
    ],
)
def test_s3_failures_name_the_uri_and_the_fix_without_secrets(
    case: str,
    uri: str,
    expected: str,
    s3_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    if case == "wrong secret":
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", WRONG_SECRET)
    elif case == "unknown key id":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", WRONG_SECRET)
    elif case == "no credentials":
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    elif case == "unreachable endpoint":
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    started = time.monotonic()
    with pytest.raises(StorageUnavailable) as caught:
        Storage().fetch(uri, tmp_path / "cache")
    message = str(caught.value)
    assert uri in message and expected in message, message
    assert_secret_free(caught.value, WRONG_SECRET, s3_env["AWS_SECRET_ACCESS_KEY"])
    assert not list((tmp_path / "cache").glob("*")), "nothing partial is left in the cache"
    assert time.monotonic() - started < 30


def test_a_store_echoing_a_secret_is_redacted() -> None:
    storage = Storage({"AWS_SECRET_ACCESS_KEY": WRONG_SECRET})
    error = storage._explain("s3://b/k", PermissionError(f"refused {WRONG_SECRET}"))
    assert error is not None and WRONG_SECRET not in str(error) and "***" in str(error)


# --- https: http.server behind TLS with a generated certificate for 127.0.0.1 ---


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) PEM files for 127.0.0.1, valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubedet test server")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class HttpsServer:
    base_url: str
    certificate: Path


@pytest.fixture(scope="module")
def https_server(dataset_files: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsServer]:
    """The dataset's parent folder served over TLS on 127.0.0.1 (a free port)."""
    certificate, key = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    handler = partial(QuietHandler, directory=str(dataset_files.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = int(server.server_address[1])
    try:
        wait_until(lambda: accepts_connections(port), 10, "the https server")
        yield HttpsServer(f"https://127.0.0.1:{port}", certificate)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def https_env(https_server: HttpsServer, monkeypatch: pytest.MonkeyPatch) -> HttpsServer:
    monkeypatch.setenv("SSL_CERT_FILE", str(https_server.certificate))
    return https_server


def test_fetch_a_file_over_https(https_env: HttpsServer, dataset_files: Path, tmp_path: Path) -> None:
    storage = Storage()
    fetched = storage.fetch(f"{https_env.base_url}/shapes/val.json", tmp_path / "cache")
    assert fetched.read_bytes() == (dataset_files / "val.json").read_bytes()
    assert storage.exists(f"{https_env.base_url}/shapes/images/img_1.png")
    assert not storage.exists(f"{https_env.base_url}/shapes/missing.json")


def test_prepare_dataset_over_https(https_env: HttpsServer, tmp_path: Path) -> None:
    from kubedet_trainer.datasets import prepare_dataset

    prepared = prepare_dataset(dataset_spec(f"{https_env.base_url}/shapes"), Storage(), tmp_path / "data")
    assert {name: c.images for name, c in prepared.counts.items()} == {"train": 4, "val": 2}
    assert len(list(prepared.images_dir.glob("*.png"))) == 6


def test_https_without_the_ca_bundle_names_ssl_cert_file(
    https_server: HttpsServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    uri = f"{https_server.base_url}/shapes/val.json"
    with pytest.raises(StorageUnavailable) as caught:
        Storage().fetch(uri, tmp_path / "cache")
    assert uri in str(caught.value) and "SSL_CERT_FILE" in str(caught.value), str(caught.value)


def test_https_missing_file_is_a_storage_failure(https_env: HttpsServer, tmp_path: Path) -> None:
    uri = f"{https_env.base_url}/shapes/missing.json"
    with pytest.raises(StorageUnavailable, match="does not exist") as caught:
        Storage().fetch(uri, tmp_path / "cache")
    assert uri in str(caught.value)


def test_https_outputs_are_refused_as_config_errors(https_env: HttpsServer, tmp_path: Path) -> None:
    local = tmp_path / "result.json"
    local.write_text("{}")
    with pytest.raises(ConfigInvalid, match="read-only"):
        Storage().put(local, f"{https_env.base_url}/out/result.json")
    with pytest.raises(ConfigInvalid, match="read-only"):
        Storage().remove(f"{https_env.base_url}/out")
