/* Live capture through libpcap: see live.h. */
#include "capture/live.h"
#include <pcap/pcap.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct live_src {
    pcap_t *p;
    int fd, timeout_ms;
    int linktype, ns_res;
    uint32_t snaplen;
    live_counters c;
    char name[64];
};

void live_cfg_default(live_cfg *c) {
    memset(c, 0, sizeof *c);
    c->snaplen = 262144;
    c->buffer_mb = 32;
    c->timeout_ms = 100;
}

/* DLT_* (what libpcap reports for a live handle) -> LINKTYPE_* (what files store and our parser
 * reads). They are the same numbers except for a few historical ones; of those only raw IP
 * can come from a Linux interface. */
static int dlt_to_linktype(int dlt) {
#ifdef DLT_RAW
    if (dlt == DLT_RAW) return LT_RAW;
#endif
    return dlt;
}

live_src *live_open(const live_cfg *c, char *err, size_t errlen, char *warn, size_t warnlen) {
    char eb[PCAP_ERRBUF_SIZE] = "";
    if (warn && warnlen) warn[0] = 0;
    if (!c->iface || !c->iface[0]) { snprintf(err, errlen, "no interface given"); return NULL; }
    live_src *s = calloc(1, sizeof *s);
    if (!s) { snprintf(err, errlen, "out of memory"); return NULL; }
    snprintf(s->name, sizeof s->name, "%s", c->iface);
    s->p = pcap_create(c->iface, eb);
    if (!s->p) { snprintf(err, errlen, "%s: %s", c->iface, eb); free(s); return NULL; }
    pcap_set_snaplen(s->p, c->snaplen > 0 ? c->snaplen : 262144);
    pcap_set_promisc(s->p, c->promisc);
    /* The kernel hands packets over in blocks of its ring (TPACKET_V3), each packet taking
     * only its own length: a 32 MiB buffer holds ~100,000 small packets of a burst. (Immediate
     * mode would give each packet at once, but in a ring of fixed-size slots of snaplen bytes:
     * 128 packets in 32 MiB on an interface with offloads, where libpcap cannot size them by
     * the MTU.) A block is handed over when full or LIVE_BLOCK_MS after its first packet: the
     * most a packet waits when traffic is light. */
    pcap_set_timeout(s->p, LIVE_BLOCK_MS);
    pcap_set_buffer_size(s->p, (c->buffer_mb > 0 ? c->buffer_mb : 32) << 20);
    s->ns_res = pcap_set_tstamp_precision(s->p, PCAP_TSTAMP_PRECISION_NANO) == 0 ? 1 : 1000;
    int rc = pcap_activate(s->p);
    if (rc < 0) {
        const char *why = pcap_geterr(s->p);
        if (rc == PCAP_ERROR_PERM_DENIED || rc == PCAP_ERROR_PROMISC_PERM_DENIED)
            snprintf(err, errlen, "%s: permission denied (%s): capturing needs CAP_NET_RAW: run as root, or give the binary "
                                  "the capability once with `sudo setcap cap_net_raw,cap_net_admin=eip %s` (docs/live.md)",
                     c->iface, why && why[0] ? why : pcap_statustostr(rc), "pktlm");
        else if (rc == PCAP_ERROR_NO_SUCH_DEVICE)
            snprintf(err, errlen, "%s: no such interface (%s; `ip link` lists them)", c->iface, why && why[0] ? why : pcap_statustostr(rc));
        else if (rc == PCAP_ERROR_IFACE_NOT_UP)
            snprintf(err, errlen, "%s: the interface is down (`ip link set %s up`)", c->iface, c->iface);
        else
            snprintf(err, errlen, "%s: cannot capture: %s%s%s", c->iface, pcap_statustostr(rc), why && why[0] ? ": " : "", why ? why : "");
        pcap_close(s->p); free(s);
        return NULL;
    }
    if (rc > 0 && warn && warnlen) {
        const char *why = pcap_geterr(s->p);
        snprintf(warn, warnlen, "%s: %s%s%s", c->iface, pcap_statustostr(rc), why && why[0] ? ": " : "", why ? why : "");
    }
    if (c->filter && c->filter[0]) {
        struct bpf_program prog;
        if (pcap_compile(s->p, &prog, c->filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
            snprintf(err, errlen, "%s: bad filter '%s': %s", c->iface, c->filter, pcap_geterr(s->p));
            pcap_close(s->p); free(s);
            return NULL;
        }
        rc = pcap_setfilter(s->p, &prog);
        pcap_freecode(&prog);
        if (rc != 0) {
            snprintf(err, errlen, "%s: cannot set filter '%s': %s", c->iface, c->filter, pcap_geterr(s->p));
            pcap_close(s->p); free(s);
            return NULL;
        }
    }
    /* non-blocking, and we wait ourselves: libpcap's own wait on Linux polls again after its
     * timeout instead of returning, and the loop must tick (idle expiry, --duration, Ctrl-C)
     * when no packet comes */
    s->fd = pcap_get_selectable_fd(s->p);
    s->timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : 100;
    if (s->fd < 0 || pcap_setnonblock(s->p, 1, eb) != 0) {
        snprintf(err, errlen, "%s: cannot wait for packets: %s", c->iface, s->fd < 0 ? "no selectable descriptor" : eb);
        pcap_close(s->p); free(s);
        return NULL;
    }
    s->linktype = dlt_to_linktype(pcap_datalink(s->p));
    int sl = pcap_snapshot(s->p);
    s->snaplen = sl > 0 ? (uint32_t)sl : 262144;
    return s;
}

int live_next(live_src *s, cap_pkt *p, int wait, char *err, size_t errlen) {
    struct pcap_pkthdr *h;
    const u_char *d;
    int rc = pcap_next_ex(s->p, &h, &d);
    if (rc == 0 && wait) {   /* nothing waiting: sleep until a packet, the timeout or a signal */
        struct pollfd pf = { .fd = s->fd, .events = POLLIN };
        poll(&pf, 1, s->timeout_ms);
        rc = pcap_next_ex(s->p, &h, &d);
    }
    if (rc == 1) {
        memset(p, 0, sizeof *p);
        p->ts_ns = (int64_t)h->ts.tv_sec * 1000000000 + (int64_t)h->ts.tv_usec * s->ns_res;
        p->caplen = h->caplen;
        p->len = h->len < h->caplen ? h->caplen : h->len;
        p->linktype = (uint16_t)s->linktype;
        p->data = d;
        s->c.packets++;
        s->c.bytes += p->len;
        return 1;
    }
    if (rc == 0 || rc == PCAP_ERROR_BREAK) return 0;
    snprintf(err, errlen, "%s: capture failed: %s", s->name, pcap_geterr(s->p));
    return -1;
}

void live_wake(live_src *s) { pcap_breakloop(s->p); }
int live_linktype(const live_src *s) { return s->linktype; }
int live_ts_ns_resolution(const live_src *s) { return s->ns_res; }
uint32_t live_snaplen(const live_src *s) { return s->snaplen; }

int live_counters_get(live_src *s, live_counters *c) {
    struct pcap_stat st;
    int ok = pcap_stats(s->p, &st) == 0;
    if (ok) { s->c.kernel_seen = st.ps_recv; s->c.kernel_drops = st.ps_drop; s->c.if_drops = st.ps_ifdrop; }
    *c = s->c;
    return ok ? 0 : -1;
}

void live_close(live_src *s) {
    if (!s) return;
    pcap_close(s->p);
    free(s);
}
