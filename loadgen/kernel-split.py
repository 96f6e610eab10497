#!/usr/bin/env python3
"""Splits the kernel samples of a `perf record -g` profile by what the kernel was doing.

Reads `perf script -F comm,tid,period,ip,sym` output on stdin (samples with call chains,
innermost frame first) and prints, per thread name and in all, the share of the samples
that were in the kernel, by category: the system call (or fault, or interrupt) that the
sample's chain runs under, and inside the categories that matter for an upload, the part
(the copy, the TCP work, the page cache, ext4, the writeback, the wake-ups). A sample
whose chain has no kernel frame is counted as user time.

Used by loadgen/count-upload.sh (PROFILE=2). Usage:
    perf script -i perf.data -F comm,tid,period,ip,sym | python3 loadgen/kernel-split.py
"""

import collections
import re
import sys

# (category, markers): the first category one of whose markers is a frame of the sample's
# chain (searched from the outermost frame inwards) names it. Order matters: a page fault
# inside a read is the read's (its copy faulted), an interrupt inside anything is the
# interrupt's.
CATEGORIES = [
    ("irq: block I/O completion", ("virtblk_done", "blk_mq_end_request", "blk_update_request")),
    ("irq/softirq: other", ("asm_common_interrupt", "asm_sysvec_apic_timer_interrupt",
                            "asm_sysvec_call_function_single", "asm_sysvec_reschedule_ipi",
                            "irq_exit_rcu")),
    ("read socket (recvfrom/read)", ("__sys_recvfrom", "tcp_recvmsg", "sock_read_iter")),
    ("send socket (sendto/write)", ("__sys_sendto", "tcp_sendmsg", "sock_write_iter")),
    ("fadvise (writeback start, drop)", ("generic_fadvise",)),
    ("fdatasync", ("ext4_sync_file", "do_fsync", "__x64_sys_fdatasync")),
    ("write file (page cache or direct)", ("ext4_buffered_write_iter", "ext4_file_write_iter",
                                           "ext4_dio_write_iter")),
    ("eventfd write (tokio wake-up)", ("eventfd_write",)),
    ("futex (thread wake-up/wait)", ("do_futex", "__x64_sys_futex")),
    ("epoll_wait", ("do_epoll_wait", "__x64_sys_epoll_wait", "__x64_sys_epoll_pwait")),
    ("page fault", ("asm_exc_page_fault", "exc_page_fault")),
    ("mmap/munmap/madvise/mprotect", ("__x64_sys_munmap", "__x64_sys_mmap", "do_madvise",
                                      "__x64_sys_mprotect", "__x64_sys_madvise")),
    ("file ops (open/rename/unlink/stat)", ("do_sys_openat2", "do_renameat2", "do_unlinkat",
                                           "vfs_statx", "__x64_sys_newfstatat")),
    ("sched_yield", ("__x64_sys_sched_yield",)),
    ("other system call", ("do_syscall_64",)),
]

# Within a category, what the innermost frames say the work was.
PARTS = [
    ("copy to user (socket data)", ("_copy_to_iter", "copy_to_user", "rep_movs_alternative",
                                    "skb_copy_datagram_iter", "__skb_datagram_iter")),
    ("copy into the page cache", ("copy_folio_from_iter_atomic", "copy_page_from_iter_atomic")),
    ("direct I/O: pin the user pages, build the bios", ("gup_fast", "iov_iter_extract_pages",
                                                       "bio_iov_iter_get_pages",
                                                       "__iomap_dio_rw", "iomap_dio_")),
    ("TCP ack/transmit (loopback: the peer's receive too)", ("__tcp_transmit_skb",
                                                            "tcp_send_ack", "tcp_cleanup_rbuf",
                                                            "__dev_queue_xmit", "net_rx_action",
                                                            "tcp_v4_rcv")),
    ("skb free", ("__kfree_skb", "skb_release_data", "kfree_skbmem", "skb_attempt_defer_free")),
    ("page cache: allocate/lookup folios", ("__filemap_get_folio", "filemap_add_folio",
                                            "folio_alloc", "__alloc_pages", "alloc_pages",
                                            "get_page_from_freelist", "__folio_alloc")),
    ("ext4: delayed allocation", ("ext4_da_write_begin", "ext4_da_get_block_prep",
                                  "ext4_da_write_end", "ext4_es_", "__es_")),
    ("writeback: submit (ext4_writepages)", ("ext4_writepages", "ext4_do_writepages",
                                              "mpage_", "ext4_bio_write_folio",
                                              "submit_bio", "blk_mq_")),
    ("drop from the page cache (invalidate)", ("mapping_try_invalidate", "invalidate_mapping",
                                               "mapping_evict_folio", "remove_mapping",
                                               "filemap_release_folio", "drop_buffers",
                                               "try_to_free_buffers", "folio_batch_release",
                                               "__folio_batch_release", "free_unref_folios")),
    ("wait for writeback", ("folio_wait_writeback", "file_write_and_wait_range",
                            "filemap_fdatawait")),
    ("wake another thread", ("try_to_wake_up", "wake_up_q", "__wake_up")),
    ("schedule (switch/sleep)", ("__schedule", "schedule")),
]
# Only when it is the innermost frame: the system call's own entry and exit.
ENTRY = ("entry_SYSCALL_64", "syscall_exit_to_user_mode", "do_syscall_64")

KERNEL_ADDRESS = re.compile(r"^\s*(ffffffff[0-9a-f]+)\s+(\S+)")
HEADER = re.compile(r"^(\S.*?)\s+(\d+)\s+(\d+)\s*$")


def classify(frames, table, default):
    for name, markers in table:
        for frame in frames:
            if frame.startswith(markers):
                return name
    return default


def part_of(kernel_frames):
    if kernel_frames and kernel_frames[0].startswith(ENTRY):
        return "syscall entry/exit"
    # Innermost first: the first frame that names a part names it.
    for frame in kernel_frames:
        for name, markers in PARTS:
            if frame.startswith(markers):
                return name
    return "other"


def main():
    totals = collections.Counter()
    by_category = collections.defaultdict(collections.Counter)
    by_part = collections.defaultdict(collections.Counter)
    threads = set()
    comm, period, kernel_frames, any_frame = None, 0, [], False

    def flush():
        if comm is None or not any_frame:
            return
        threads.add(comm)
        totals[(comm, "all")] += period
        totals[("ALL", "all")] += period
        if not kernel_frames:
            totals[(comm, "user")] += period
            totals[("ALL", "user")] += period
            return
        outermost_first = list(reversed(kernel_frames))
        category = classify(outermost_first, CATEGORIES, "kernel, no system call (kthread work)")
        part = part_of(kernel_frames)
        for who in (comm, "ALL"):
            totals[(who, "kernel")] += period
            by_category[who][category] += period
            by_part[who][(category, part)] += period

    for line in sys.stdin:
        if not line.strip():
            continue
        if not line.startswith((" ", "\t")):
            flush()
            match = HEADER.match(line.rstrip())
            if match:
                comm, period = match.group(1), int(match.group(3))
            else:
                comm, period = line.split()[0], 1
            kernel_frames, any_frame = [], False
            continue
        any_frame = True
        match = KERNEL_ADDRESS.match(line)
        if match:
            kernel_frames.append(match.group(2))
    flush()

    everything = totals[("ALL", "all")] or 1
    for who in sorted(threads, key=lambda t: -totals[(t, "all")]) + ["ALL"]:
        all_samples = totals[(who, "all")]
        if all_samples * 100 < everything:
            continue
        print(f"{who}: {100 * all_samples / everything:.1f} % of the samples, "
              f"kernel {100 * totals[(who, 'kernel')] / everything:.1f} %, "
              f"user {100 * totals[(who, 'user')] / everything:.1f} %")
        for category, samples in by_category[who].most_common():
            if samples * 200 < everything:
                continue
            print(f"    {100 * samples / everything:5.1f} %  {category}")
            parts = [(p, s) for (c, p), s in by_part[who].items() if c == category]
            for part, part_samples in sorted(parts, key=lambda item: -item[1]):
                if part_samples * 200 < everything:
                    continue
                print(f"        {100 * part_samples / everything:5.1f} %  {part}")


if __name__ == "__main__":
    main()
