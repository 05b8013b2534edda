/* The data-plane benchmark's traffic: UDP from one pod namespace to another at a fixed rate,
 * batched with sendmmsg so that 50,000 packets/s and more cost the sender little CPU, and counted
 * on arrival with recvmmsg.
 *
 *   pktgen TX_NETNS SRC_IP RX_NETNS DST_IP PORT RATE SHAPE PAYLOAD
 *
 * RATE is packets per second (0: as fast as the sender can). SHAPE is `long:N` (N flows that
 * never end, packets spread round-robin over them) or `short:P` (every flow is P packets, then
 * the next source port starts a new one; ports cycle over 1024-65535). The sender is a raw socket
 * (IP_HDRINCL) so that it can pick any source port; the receiver is a plain UDP socket on PORT.
 *
 * On stdin, `c` prints one line `sent received send_errors monotonic_ns` (running totals); `q`
 * or end of file stops it. Built by bench/dataplane.py with the system C compiler. */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH_MAX 64
#define PORT_LOW 1024
#define PORT_HIGH 65535
#define BATCHES_PER_SECOND 2000 /* pacing granularity: one sendmmsg every 0.5 ms at most */
#define MAX_BACKLOG_NS 100000000LL /* after a stall, catch up at most 100 ms of packets */

static atomic_ullong sent, received, send_errors;
static atomic_int stopping;
static struct sockaddr_in dst;
static uint32_t src_addr;
static uint16_t dst_port;
static long rate;
static int long_flows, short_packets, payload;
static int tx_fd, rx_fd;

static void die(const char *what) {
    fprintf(stderr, "pktgen: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void enter_netns(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "/run/netns/%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
        fprintf(stderr, "pktgen: cannot enter network namespace %s: %s\n", name, strerror(errno));
        exit(1);
    }
    close(fd);
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *sender(void *unused) {
    (void)unused;
    static unsigned char packets[BATCH_MAX][1500];
    struct iovec iov[BATCH_MAX];
    struct mmsghdr msgs[BATCH_MAX];
    size_t length = sizeof(struct iphdr) + sizeof(struct udphdr) + (size_t)payload;
    for (int i = 0; i < BATCH_MAX; i++) {
        struct iphdr *ip = (struct iphdr *)packets[i];
        struct udphdr *udp = (struct udphdr *)(packets[i] + sizeof *ip);
        memset(packets[i], 0, length);
        ip->version = 4;
        ip->ihl = 5;
        ip->ttl = 64;
        ip->protocol = IPPROTO_UDP;
        ip->tot_len = htons((uint16_t)length);
        ip->saddr = src_addr;
        ip->daddr = dst.sin_addr.s_addr;
        udp->dest = htons(dst_port);
        udp->len = htons((uint16_t)(length - sizeof *ip));
        udp->check = 0; /* optional over IPv4; the kernel fills in the IP header checksum */
        iov[i].iov_base = packets[i];
        iov[i].iov_len = length;
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &dst;
        msgs[i].msg_hdr.msg_namelen = sizeof dst;
    }
    int batch = rate == 0 ? 32 : (int)((rate + BATCHES_PER_SECOND - 1) / BATCHES_PER_SECOND);
    if (batch > BATCH_MAX) batch = BATCH_MAX;
    if (batch < 1) batch = 1;
    long long interval = rate == 0 ? 0 : (long long)batch * 1000000000LL / rate;
    unsigned long long packet = 0;
    long long due = now_ns();
    while (!atomic_load(&stopping)) {
        for (int i = 0; i < batch; i++, packet++) {
            unsigned port;
            if (short_packets > 0)
                port = PORT_LOW + (unsigned)((packet / (unsigned long long)short_packets) % (PORT_HIGH - PORT_LOW + 1));
            else
                port = 40000 + (unsigned)(packet % (unsigned long long)long_flows);
            ((struct udphdr *)(packets[i] + sizeof(struct iphdr)))->source = htons((uint16_t)port);
        }
        int done = sendmmsg(tx_fd, msgs, (unsigned)batch, 0);
        if (done < 0) {
            atomic_fetch_add(&send_errors, (unsigned long long)batch);
        } else {
            atomic_fetch_add(&sent, (unsigned long long)done);
            if (done < batch) atomic_fetch_add(&send_errors, (unsigned long long)(batch - done));
        }
        if (interval > 0) {
            due += interval;
            long long now = now_ns();
            if (now - due > MAX_BACKLOG_NS) due = now - MAX_BACKLOG_NS;
            if (due > now) {
                struct timespec ts = {due / 1000000000LL, due % 1000000000LL};
                clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
            }
        }
    }
    return NULL;
}

static void *receiver(void *unused) {
    (void)unused;
    static unsigned char buffers[BATCH_MAX][2048];
    struct iovec iov[BATCH_MAX];
    struct mmsghdr msgs[BATCH_MAX];
    for (int i = 0; i < BATCH_MAX; i++) {
        iov[i].iov_base = buffers[i];
        iov[i].iov_len = sizeof buffers[i];
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    while (!atomic_load(&stopping)) {
        int got = recvmmsg(rx_fd, msgs, BATCH_MAX, MSG_WAITFORONE, NULL);
        if (got > 0) atomic_fetch_add(&received, (unsigned long long)got);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: pktgen TX_NETNS SRC_IP RX_NETNS DST_IP PORT RATE long:N|short:P PAYLOAD\n");
        return 2;
    }
    struct in_addr address;
    if (inet_pton(AF_INET, argv[2], &address) != 1) {
        fprintf(stderr, "pktgen: bad source address %s\n", argv[2]);
        return 2;
    }
    src_addr = address.s_addr;
    memset(&dst, 0, sizeof dst);
    dst.sin_family = AF_INET;
    if (inet_pton(AF_INET, argv[4], &dst.sin_addr) != 1) {
        fprintf(stderr, "pktgen: bad destination address %s\n", argv[4]);
        return 2;
    }
    dst_port = (uint16_t)atoi(argv[5]);
    rate = atol(argv[6]);
    if (strncmp(argv[7], "long:", 5) == 0) {
        long_flows = atoi(argv[7] + 5);
    } else if (strncmp(argv[7], "short:", 6) == 0) {
        short_packets = atoi(argv[7] + 6);
    }
    if (long_flows <= 0 && short_packets <= 0) {
        fprintf(stderr, "pktgen: SHAPE must be long:N or short:P with N, P > 0, not %s\n", argv[7]);
        return 2;
    }
    payload = atoi(argv[8]);
    if (payload < 0 || payload > 1400) {
        fprintf(stderr, "pktgen: PAYLOAD must be 0-1400 bytes\n");
        return 2;
    }

    /* A socket stays in the namespace it was made in: enter, create, move on. */
    enter_netns(argv[3]);
    rx_fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (rx_fd < 0) die("receiver socket");
    int size = 8 << 20;
    setsockopt(rx_fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    struct timeval tick = {0, 200000}; /* wake up to notice `q` */
    setsockopt(rx_fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
    struct sockaddr_in bind_to = dst;
    bind_to.sin_port = htons(dst_port);
    if (bind(rx_fd, (struct sockaddr *)&bind_to, sizeof bind_to) != 0) die("bind");
    enter_netns(argv[1]);
    tx_fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW); /* implies IP_HDRINCL */
    if (tx_fd < 0) die("sender socket");
    setsockopt(tx_fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);

    pthread_t tx, rx;
    pthread_create(&rx, NULL, receiver, NULL);
    pthread_create(&tx, NULL, sender, NULL);
    char line[64];
    while (fgets(line, sizeof line, stdin) != NULL && line[0] != 'q') {
        if (line[0] == 'c') {
            printf("%llu %llu %llu %lld\n", atomic_load(&sent), atomic_load(&received), atomic_load(&send_errors),
                   now_ns());
            fflush(stdout);
        }
    }
    atomic_store(&stopping, 1);
    pthread_join(tx, NULL);
    pthread_join(rx, NULL);
    return 0;
}
