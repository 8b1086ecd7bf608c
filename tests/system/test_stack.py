"""The foundation against the real stack: the broker is Apache Kafka 4.x,
otpflow's Kafka client code creates topics on it, and the binaries' start-up
contract (help, configuration errors, generated docs) holds."""

import subprocess

from confluent_kafka.admin import AdminClient

from conftest import STATE, run_script
from otpflow_test import BUILD, REPO


def test_broker_is_apache_kafka_4(stack):
    assert run_script("kafka.sh", "version").startswith("4.")
    log = (STATE / "kafka" / "logs" / "server.log").read_text()
    assert "Kafka version: 4." in log


def test_otpflowctl_topics_creates_missing_topics_once(stack, otpflowctl,
                                                      topics):
    first = otpflowctl("topics", "--partitions", "3", env=topics)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("created ") == len(topics) == 6
    md = AdminClient({"bootstrap.servers": stack.bootstrap}).list_topics(
        timeout=30)
    for name in topics.values():
        assert len(md.topics[name].partitions) == 3

    again = otpflowctl("topics", "--partitions", "5", env=topics)
    assert again.returncode == 0, again.stderr
    assert "created" not in again.stdout
    assert again.stdout.count(" 3 partitions") == 6


def test_otpflowctl_topics_reports_unreachable_broker(otpflowctl):
    proc = otpflowctl("topics", env={
        "OTPFLOW_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "OTPFLOW_KAFKA_SOCKET_CONNECTION_SETUP_TIMEOUT_MS": "1000"},
        timeout=90)
    assert proc.returncode == 1
    assert "127.0.0.1:1" in proc.stderr


def test_unknown_kafka_property_is_a_clear_error(otpflowctl):
    proc = otpflowctl("topics", env={"OTPFLOW_KAFKA_NO_SUCH_THING": "1"})
    assert proc.returncode == 1
    assert "OTPFLOW_KAFKA_NO_SUCH_THING" in proc.stderr


def test_daemons_report_every_configuration_problem_at_once():
    env = {"OTPFLOW_OTP_TTL": "soon", "OTPFLOW_OTP_BCRYPT_COST": "x",
           "OTPFLOW_SEAL_SECRET_KEY": "s3cret-value", "PATH": "/usr/bin"}
    worker = subprocess.run([str(BUILD / "otpflow-worker")], env=env,
                            capture_output=True, text=True, timeout=30)
    assert worker.returncode == 2
    for name in ("OTPFLOW_OTP_TTL", "OTPFLOW_OTP_BCRYPT_COST",
                 "OTPFLOW_DATABASE_URL", "OTPFLOW_SEAL_PUBLIC_KEY"):
        assert name in worker.stderr
    assert "s3cret-value" not in worker.stderr + worker.stdout


# One out-of-range value per daemon, one cross-field rule, one unknown
# word: each daemon reports them all at start and exits 2, before it
# touches Kafka or Postgres.
BAD_SETTINGS = {
    "otpflow-ingest": {"OTPFLOW_MAX_BODY_BYTES": "1",
                       "OTPFLOW_ACCEPT_TIMEOUT_MS": "99999999",
                       "OTPFLOW_LOG_LEVEL": "loud"},
    "otpflow-worker": {"OTPFLOW_WORKER_BATCH_SIZE": "0",
                       "OTPFLOW_OTP_BCRYPT_COST": "3",
                       "OTPFLOW_LOG_LEVEL": "loud"},
    "otpflow-sender": {"OTPFLOW_SMS_MAX_IN_FLIGHT": "0",
                       "OTPFLOW_SMS_BACKOFF_INITIAL": "10s",
                       "OTPFLOW_SMS_BACKOFF_MAX": "1s",
                       "OTPFLOW_SMS_PROVIDER": "pigeon",
                       "OTPFLOW_LOG_LEVEL": "loud"},
}
# BACKOFF_INITIAL > BACKOFF_MAX is one problem naming both.
PROBLEMS = {"otpflow-ingest": 3, "otpflow-worker": 3, "otpflow-sender": 4}


def test_out_of_range_settings_exit_2_in_every_daemon():
    for exe, bad in BAD_SETTINGS.items():
        env = {"PATH": "/usr/bin", "OTPFLOW_DATABASE_URL": "postgres://x",
               "OTPFLOW_SEAL_PUBLIC_KEY": "x", "OTPFLOW_SEAL_SECRET_KEY": "x",
               **bad}
        proc = subprocess.run([str(BUILD / exe)], env=env,
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2, (exe, proc.stderr)
        for name in bad:
            assert name in proc.stderr, (exe, name, proc.stderr)
        assert f"{PROBLEMS[exe]} problems" in proc.stderr, (exe, proc.stderr)


def test_every_binary_has_help_and_version():
    for exe in ("otpflow-ingest", "otpflow-worker", "otpflow-sender",
                "otpflowctl", "otpflow-devbroker"):
        for flag, word in (("--help", "usage"), ("--version", "0.")):
            proc = subprocess.run([str(BUILD / exe), flag],
                                  capture_output=True, text=True, timeout=30)
            assert proc.returncode == 0, (exe, flag, proc.stderr)
            assert word in proc.stdout, (exe, flag)


def test_configuration_doc_is_generated_from_the_table():
    proc = subprocess.run([str(BUILD / "otpflowctl"), "config", "--markdown"],
                          capture_output=True, text=True, timeout=30)
    committed = (REPO / "docs" / "configuration.md").read_text()
    assert proc.stdout == committed, (
        "docs/configuration.md is stale: run "
        "build/otpflowctl config --markdown > docs/configuration.md")
