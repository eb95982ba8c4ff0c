/*
 * TESTPLAN F16 (short form): Kafka's disk fills up. The stack's broker is
 * stopped, its log.dirs (kafka/data: the partitions and the KRaft metadata
 * log) moved onto a 64 MiB tmpfs, and the broker started again on it. Under
 * 100 POST /v1/orders a second the tmpfs is then filled to the last byte
 * (a filler file written until ENOSPC) and kept full for
 * ORDERFLOW_F16_FULL_S seconds (10 by default); the broker's appends fail
 * and, its only log dir gone, it halts. Then the filler is removed, the
 * broker started again if it died, and the load goes on until 202s come
 * back. Holds when:
 *   - every answer is 202, 503, or 504 outcome_unknown (a delivery that may
 *     be in the log: TESTPLAN asks for 503 only; the 504s are counted and
 *     printed, as are the 202s answered while the disk was full);
 *   - no answer took longer than the API's budget (10 s) plus slack;
 *   - no 202 was given that Kafka did not acknowledge: after recovery every
 *     202 is applied (I1), exactly once (I2), no 503 is applied (I3), and
 *     I4, I5 hold (of_check, N = 30 s);
 *   - each unknown outcome retried with its Idempotency-Key after recovery
 *     (of_load_spec.retry_unknown) is taken and applied once (I2);
 *   - 202s come back after space is freed, without restarting the API
 *     (the time from freeing space to the first 202 is printed), and the
 *     API, the worker and the relay are still running and exit 0 on
 *     SIGTERM (I6).
 * Needs root to mount a tmpfs: without it the test prints why and exits
 * with 77, which ctest reports as SKIPPED. The broker is stopped and the
 * tmpfs unmounted at the end whatever happens (teardown, atexit, and on
 * SIGTERM/SIGINT), and kafka/data is put back as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "fault_check.h"
#include "of_check.h"
#include "of_it.h"
#include "of_it_sys.h"
#include "of_load.h"

#define TMPFS_OPTS "size=64m"
#define BUDGET_MS 10000        /* api.produce_timeout_ms, the default */
#define SLACK_MS 2000          /* the client's scheduling on 2 loaded cores */
#define RECOVER_WITHIN_S 60.0  /* first 202 after space is freed */

static char data_dir[600], aside_dir[600], filler[700];
static int mounted;            /* a tmpfs is on data_dir */
static struct of_it_sys s;
static int sys_up;

static double secs(long long us)
{
    return (double)us / 1e6;
}

/* The stack node's pid from its pid file; 0 if none (no cmocka: this also
 * runs from atexit). */
static int node_pid(const char *node)
{
    char path[700];
    int pid = 0;
    const char *dir = getenv("ORDERFLOW_TEST_STACK_DIR");

    if (!dir)
        return 0;
    snprintf(path, sizeof(path), "%s/%s/%s.pid", dir, node, node);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%d", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return pid;
}

/* Gone: no such process, or a zombie (the node is not our child). */
static int gone(int pid)
{
    char path[64], st = 0;

    if (pid <= 0 || kill(pid, 0) != 0)
        return 1;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    int n = fscanf(f, "%*d %*s %c", &st);
    fclose(f);
    return n != 1 || st == 'Z';
}

/* SIGTERM the broker and wait until it is gone (SIGKILL after 60 s).
 * @returns how it went, for the log. */
static const char *stop_kafka(void)
{
    int pid = node_pid("kafka");

    if (gone(pid))
        return "not running";
    kill(pid, SIGTERM);
    for (int i = 0; i < 600 && !gone(pid); i++)
        usleep(100000);
    if (gone(pid))
        return "stopped";
    kill(pid, SIGKILL);
    for (int i = 0; i < 100 && !gone(pid); i++)
        usleep(100000);
    return gone(pid) ? "killed after 60 s" : "STILL RUNNING";
}

/* Stop the broker, unmount the tmpfs and put kafka/data back; whatever
 * happened, as often as it is called. */
static void cleanup(void)
{
    if (!mounted)
        return;
    mounted = 0;
    const char *how = stop_kafka();
    const char *um = "unmounted";
    /* Busy: a broker that node.sh was starting when we were stopped (its
     * pid file may be written only now); stop that one too. */
    int rc = umount(data_dir);
    for (int i = 0; i < 10 && rc != 0 && errno == EBUSY; i++) {
        sleep(1);
        how = stop_kafka();
        rc = umount(data_dir);
    }
    if (rc != 0) {
        fprintf(stderr, "f16: umount %s: %s; detaching it (umount -l)\n",
                data_dir, strerror(errno));
        um = umount2(data_dir, MNT_DETACH) == 0 ? "detached (umount -l)"
                                                : "NOT unmounted";
    }
    int back = rmdir(data_dir) == 0 && rename(aside_dir, data_dir) == 0;
    if (!back)
        fprintf(stderr, "f16: could not put %s back in %s: %s\n", aside_dir,
                data_dir, strerror(errno));
    printf("# F16: clean-up: broker %s, tmpfs %s, kafka/data %s\n", how, um,
           back ? "restored" : "NOT restored");
    fflush(stdout);
}

/* atexit: the system's processes too (no cmocka here), then the tmpfs */
static void at_exit(void)
{
    if (sys_up) {
        sys_up = 0;
        for (int p = 0; p < OF_IT_PROCS; p++)
            if (s.pid[p] > 0)
                kill(s.pid[p], SIGTERM);
    }
    cleanup();
}

static void on_signal(int sig)
{
    exit(128 + sig); /* at_exit() */
}

static int teardown(void **state)
{
    (void)state;
    if (sys_up) {
        sys_up = 0;
        of_it_sys_down(&s);
    }
    cleanup();
    return 0;
}

/* Probe: can we mount a tmpfs at all? Exit 77 (skipped) if not. */
static void need_tmpfs(void)
{
    char probe[700];
    const char *dir = getenv("ORDERFLOW_TEST_STACK_DIR");

    if (!dir) {
        fprintf(stderr, "f16: ORDERFLOW_TEST_STACK_DIR is not set\n");
        exit(1);
    }
    snprintf(probe, sizeof(probe), "%s/f16-mount-probe-%d", dir, (int)getpid());
    if (mkdir(probe, 0700) != 0) {
        fprintf(stderr, "f16: mkdir %s: %s\n", probe, strerror(errno));
        exit(1);
    }
    if (mount("tmpfs", probe, "tmpfs", 0, TMPFS_OPTS) != 0) {
        int e = errno;
        rmdir(probe);
        printf("# F16 SKIPPED: cannot mount a tmpfs (mount -t tmpfs -o "
               TMPFS_OPTS "): %s%s\n",
               strerror(e),
               e == EPERM ? " (needs root or CAP_SYS_ADMIN)" : "");
        fflush(stdout);
        exit(77);
    }
    umount(probe);
    rmdir(probe);
}

/* Kafka's log.dirs onto a fresh 64 MiB tmpfs with its data copied in. */
static void kafka_onto_tmpfs(void)
{
    const char *dir = of_it_env("ORDERFLOW_TEST_STACK_DIR");

    snprintf(data_dir, sizeof(data_dir), "%s/kafka/data", dir);
    snprintf(aside_dir, sizeof(aside_dir), "%s/kafka/data.f16-disk", dir);
    snprintf(filler, sizeof(filler), "%s/f16-filler", data_dir);
    printf("# F16: broker %s\n", stop_kafka());
    assert_int_equal(rename(data_dir, aside_dir), 0);
    assert_int_equal(mkdir(data_dir, 0755), 0);
    if (mount("tmpfs", data_dir, "tmpfs", 0, TMPFS_OPTS) != 0) {
        fail_msg("mount tmpfs on %s: %s", data_dir, strerror(errno));
    }
    mounted = 1;
    of_it_sh("cp -a '%s/.' '%s/'", aside_dir, data_dir);
    of_it_node_start("kafka");
}

/* Write zeros to the filler until the tmpfs is full. @returns MiB written. */
static double fill(void)
{
    static char buf[1 << 20];
    long long n = 0;
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    assert_true(fd >= 0);
    for (;;) {
        ssize_t w = write(fd, buf, sizeof(buf));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            assert_int_equal(errno, ENOSPC);
            break;
        }
        n += w;
    }
    close(fd);
    return (double)n / (1 << 20);
}

static long avail_kib(void)
{
    struct statvfs v;
    if (statvfs(data_dir, &v) != 0)
        return -1;
    return (long)((unsigned long long)v.f_bavail * v.f_frsize / 1024);
}

static void kafka_disk_full_then_freed(void **state)
{
    struct of_check c;
    const char *full_env = getenv("ORDERFLOW_F16_FULL_S");
    int full_s = full_env ? atoi(full_env) : 10;
    (void)state;

    kafka_onto_tmpfs();
    printf("# F16: Kafka log.dirs on a 64 MiB tmpfs (%s), %ld KiB free\n",
           data_dir, avail_kib());

    /* 100/s held for up to the budget while the broker is gone: over the
     * per-address and total connection limits, raised as in F5 */
    const char *env[] = {"ORDERFLOW_API_PER_IP_CONNECTION_LIMIT=3000",
                         "ORDERFLOW_API_CONNECTION_LIMIT=3000", NULL};
    of_it_sys_init(&s, "f16", env);
    sys_up = 1;
    of_it_sys_up(&s);
    int api_pid = s.pid[OF_IT_API];

    struct of_load_spec spec = {
        .port = s.port, .auth = s.auth, .principal = s.principal,
        .user_id = s.user_id, .rate = 100, .duration_s = 180,
        .max_inflight = 3000, .timeout_ms = BUDGET_MS + 10000,
        .key_prefix = "f16", .retry_unknown = 1};
    long long t0 = of_it_now_us();
    struct of_load *l = of_load_start(&spec);
    assert_non_null(l);
    sleep(3);

    /* fill the disk */
    int kafka_pid = node_pid("kafka");
    long long t_fill = of_it_now_us();
    double mib = fill();
    long long t_full = of_it_now_us();
    long left_kib = avail_kib();
    long long t_died = -1;
    long ready_full = 200;
    while (secs(of_it_now_us() - t_full) < full_s) {
        if (t_died < 0 && gone(kafka_pid))
            t_died = of_it_now_us();
        if (ready_full == 200)
            ready_full = of_it_readyz(s.port);
        usleep(100000);
    }
    if (t_died < 0 && gone(kafka_pid))
        t_died = of_it_now_us();
    printf("# F16: tmpfs filled at %.1f s (%.1f MiB filler, %ld KiB left), "
           "kept full %d s; broker %s; /readyz while full %ld\n",
           secs(t_fill - t0), mib, left_kib, full_s,
           t_died >= 0 ? "halted" : "still running", ready_full);
    if (t_died >= 0)
        printf("# F16: the broker halted %.1f s after the disk filled\n",
               secs(t_died - t_full));

    /* free the space; the broker back if it died */
    long long t_free = of_it_now_us();
    assert_int_equal(unlink(filler), 0);
    int restarted = 0;
    if (gone(kafka_pid)) {
        of_it_node_start("kafka"); /* returns once it answers Metadata */
        restarted = 1;
    }
    long long t_listen = of_it_now_us();
    long ready = 0;
    while (secs(of_it_now_us() - t_free) < RECOVER_WITHIN_S &&
           (ready = of_it_readyz(s.port)) != 200)
        usleep(100000);
    long long t_ready = of_it_now_us();
    printf("# F16: space freed at %.1f s; broker %s (listening %.1f s after "
           "the free); API /readyz %ld %.1f s after the free\n",
           secs(t_free - t0), restarted ? "restarted" : "left running",
           secs(t_listen - t_free), ready, secs(t_ready - t_free));
    /* load on until the 202s have been back a while */
    long long t_end = of_it_now_us() + 5000000LL;
    while (of_it_now_us() < t_end)
        usleep(100000);
    long retried;
    struct of_load_result *r = fault_stop_load(l, &retried);
    size_t nrun = r->n - (size_t)retried; /* the run's own ops come first */
    int64_t full_us = t_full - t0, fill_us = t_fill - t0,
            free_us = t_free - t0;
    long n202 = 0, n503 = 0, n504 = 0, other = 0, over = 0, retry202 = 0;
    long ok_full = 0, ok_full_sent = 0;
    int64_t max_us = 0, first_fail = -1, first_202_after = -1;
    for (size_t i = 0; i < r->n; i++) {
        const struct of_load_op *o = &r->ops[i];
        int64_t end = o->start_us + o->latency_us;
        if (i >= nrun) { /* a retry; its clock starts at the retry */
            if (o->status == 202)
                retry202++;
            else
                printf("# F16: a retry answered %ld %s\n", o->status,
                       o->error);
            continue;
        }
        if (o->status == 202) {
            n202++;
            if (end > full_us && end < free_us) {
                ok_full++;
                ok_full_sent += o->start_us >= fill_us;
            }
            if (end > free_us &&
                (first_202_after < 0 || end < first_202_after))
                first_202_after = end;
        } else if (o->status == 503) {
            n503++;
        } else if (o->status == 504 &&
                   strcmp(o->error, "outcome_unknown") == 0) {
            n504++;
        } else {
            if (other++ < 5)
                printf("# F16: unexpected answer %ld %s at %.2f s\n",
                       o->status, o->error, secs(o->start_us));
        }
        if (o->status != 202 && first_fail < 0)
            first_fail = o->start_us;
        if (o->latency_us > max_us)
            max_us = o->latency_us;
        over += o->latency_us > (BUDGET_MS + SLACK_MS) * 1000LL;
    }
    double recovery = first_202_after >= 0
                          ? secs(first_202_after - free_us) : -1.0;
    struct of_it_produce pe;
    of_it_sys_produce(&s, &pe);
    printf("# F16: answers 202 %ld, 503 %ld, 504 outcome_unknown %ld, other "
           "%ld; slowest %.2f s (budget %.1f s), %ld over budget+%.1f s\n",
           n202, n503, n504, other, secs(max_us), BUDGET_MS / 1000.0, over,
           SLACK_MS / 1000.0);
    printf("# F16: TESTPLAN wants only 503 while full: %ld 504 "
           "outcome_unknown seen; %ld 202s answered while the disk was full "
           "(%ld of them sent after the fill began)\n",
           n504, ok_full, ok_full_sent);
    printf("# F16: failed deliveries by rd_kafka_message_status(): "
           "NOT_PERSISTED %ld, POSSIBLY_PERSISTED %ld; refused by producev "
           "%ld\n",
           pe.not_persisted, pe.possibly, pe.refused);
    printf("# F16: first non-202 %.1f s after the fill began; recovery: "
           "first 202 %.1f s after space was freed\n",
           first_fail >= 0 ? secs(first_fail - fill_us) : -1.0, recovery);
    printf("# F16: %ld unknown retried with the same key, %ld of them 202\n",
           retried, retry202);
    printf("# F16: API fatal producer errors %ld, producers recreated %ld; "
           "API started %d time(s), pid %d %s; worker %s, relay %s\n",
           pe.fatal, pe.recreated, s.starts[OF_IT_API], api_pid,
           of_it_pid_alive(api_pid) ? "alive" : "GONE",
           of_it_pid_alive(s.pid[OF_IT_WORKER]) ? "alive" : "GONE",
           of_it_pid_alive(s.pid[OF_IT_OUTBOX]) ? "alive" : "GONE");

    int failed = other != 0 || over != 0 || recovery < 0 ||
                 recovery > RECOVER_WITHIN_S || retry202 != retried;
    if (failed)
        of_it_sys_logs(&s, 30);
    assert_int_equal(other, 0);
    assert_int_equal(over, 0);
    assert_int_equal(r->id_mismatch, 0);
    assert_true(n503 + n504 > 0); /* the full disk was felt */
    assert_true(n202 > 0);
    assert_true(recovery >= 0 && recovery <= RECOVER_WITHIN_S);
    /* each failure is the class librdkafka gave its delivery: a 504 only
     * for POSSIBLY_PERSISTED */
    assert_int_equal(n503, pe.not_persisted + pe.refused);
    assert_int_equal(n504, pe.possibly);
    assert_int_equal(retried, n504);
    assert_int_equal(retry202, retried);
    /* without restarting the API; the worker and relay survived (I6) */
    assert_int_equal(s.starts[OF_IT_API], 1);
    assert_true(of_it_pid_alive(api_pid));
    assert_true(of_it_pid_alive(s.pid[OF_IT_WORKER]));
    assert_true(of_it_pid_alive(s.pid[OF_IT_OUTBOX]));

    /* no 202 that Kafka did not acknowledge: every one applied, once */
    fault_check(&s, r, 30, &c);
    assert_int_equal(c.i1_missing, 0);
    assert_int_equal(c.i2_mismatch, 0);
    assert_int_equal(c.i3_fail_applied, 0);
    assert_int_equal(c.applied + c.rejected, c.writes_ok);
    for (int p = 0; p < OF_IT_PROCS; p++) /* I6: each exits cleanly */
        assert_int_equal(of_it_sys_stop(&s, (enum of_it_proc)p, SIGTERM, 15),
                         0);
    of_load_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(kafka_disk_full_then_freed, teardown),
    };
    need_tmpfs(); /* exit 77, skipped, if a tmpfs cannot be mounted */
    atexit(at_exit);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
