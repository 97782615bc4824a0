/*
 * A tiny launcher for librdkafka's in-process mock Kafka cluster, used by
 * refstream/testing's startKafkaTestBroker().
 *
 *   mock-broker <broker-count> [topic:partitions ...]
 *
 * Creates the cluster and the given topics, prints the bootstrap servers as one line on
 * stdout, then runs until stdin reaches EOF (the parent went away) or SIGTERM/SIGINT,
 * taking broker fault commands on stdin meanwhile.
 * The mock speaks enough of the protocol for producers (incl. idempotent), fetching
 * consumers and offset commits, but has no CreateTopics: topics must be listed here.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static void die(const char *what) {
  fprintf(stderr, "mock-broker: %s\n", what);
  exit(2);
}

int main(int argc, char **argv) {
  char errstr[512];
  if (argc < 2) die("usage: mock-broker <broker-count> [topic:partitions ...]");
  int brokers = atoi(argv[1]);
  if (brokers < 1 || brokers > 16) die("broker count must be 1..16");

#ifdef __linux__
  /* Never outlive the parent, even when it is killed with SIGKILL. */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: a blocked read() returns EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  /* The cluster needs a client handle for its bookkeeping; it is never used to produce. */
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) die(errstr);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) die(errstr);

  rd_kafka_mock_cluster_t *cluster = rd_kafka_mock_cluster_new(rk, brokers);
  if (!cluster) die("could not create the mock cluster");

  for (int i = 2; i < argc; i++) {
    char *spec = argv[i];
    char *colon = strrchr(spec, ':');
    int partitions = 1;
    if (colon) {
      *colon = '\0';
      partitions = atoi(colon + 1);
    }
    if (partitions < 1 || spec[0] == '\0') die("topic specs look like name:partitions");
    /* Replication factor = broker count, so every broker can serve as a replica. */
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(cluster, spec, partitions, brokers);
    if (err) {
      fprintf(stderr, "mock-broker: cannot create topic %s: %s\n", spec, rd_kafka_err2str(err));
      exit(2);
    }
  }

  printf("%s\n", rd_kafka_mock_cluster_bootstraps(cluster));
  fflush(stdout);

  /* Fault commands on stdin, one per line: "down <id>" / "up <id>" take a broker offline
   * (connections dropped, new ones refused) and back; each is answered "ok" on stdout. */
  char line[256];
  size_t used = 0;
  while (!stop_requested) {
    ssize_t n = read(STDIN_FILENO, line + used, sizeof line - 1 - used);
    if (n == 0) break;                      /* parent closed stdin */
    if (n < 0) {
      if (errno == EINTR) continue;
      break;                                /* stdin unusable: do not linger */
    }
    used += (size_t)n;
    line[used] = '\0';
    char *newline;
    while ((newline = strchr(line, '\n')) != NULL) {
      *newline = '\0';
      int id = 0;
      rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
      if (sscanf(line, "down %d", &id) == 1) err = rd_kafka_mock_broker_set_down(cluster, id);
      else if (sscanf(line, "up %d", &id) == 1) err = rd_kafka_mock_broker_set_up(cluster, id);
      else err = RD_KAFKA_RESP_ERR__INVALID_ARG;
      printf(err ? "error %s\n" : "ok\n", rd_kafka_err2str(err));
      fflush(stdout);
      size_t rest = used - (size_t)(newline + 1 - line);
      memmove(line, newline + 1, rest + 1);
      used = rest;
    }
    if (used >= sizeof line - 1) used = 0; /* an overlong line: drop it */
  }

  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  return 0;
}
