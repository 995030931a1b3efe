// A second thread for a fit's batches: the fit hands it the second half of each batch's rows
// (forward pass, deltas and their part of every weight step), works on the first half itself,
// and adds the helper's part of each synapse's step to its own before updating it. Each core
// keeps its rows in its own caches from the first product to the last, where BLAS's own
// threads would split every product anew and move its output between the cores.
//
// Either thread may train the second half, and the numbers are the same whichever does. The
// fit offers each half; the two claim it by a compare-and-swap on the batch's number, and the
// fit takes it itself when it needs the half's first step and the helper has not begun it.
// An offered half "loses" when the fit took it back, or waited for it longer than it worked
// on its own half: the helper then had less than half a core, as when another process, or a
// BLAS's idle threads (OpenBLAS's spin for about 0.1 s after each threaded product), hold the
// other core. After a loss the fit trains whole batches (both halves, one after the other) for
// 2 ms, doubling with each further loss up to 32 ms, and back to 2 ms after a batch that
// gained. So a busy machine costs about the unsplit batch, not waits for a descheduled thread.
//
// The helper sleeps while the fit keeps its batches, so as not to be one more busy thread on
// a busy machine; the first batch after a keep (and a fit's first) is kept too and wakes it,
// so that it is running by the next. Awake, it spins for the next batch (pausing after a half
// it trained, yielding otherwise, as it may share the fit's core), then sleeps. The fit spins
// while it waits for a half the helper has begun, yielding after a while.
#ifndef TINYNET_HELPER_HH
#define TINYNET_HELPER_HH

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define TINYNET_PAUSE() _mm_pause()
#else
#define TINYNET_PAUSE() ((void)0)
#endif

namespace tinynet {

// Who trains split batches' second halves, process-wide: kHelperAdaptive, as above (the
// default); kFitOnly, every fit all of its halves; kHelperOnly, the helpers every half offered
// (the fit waits for it instead of taking it back, and never keeps batches). The last two are
// the tests' way to check that the numbers do not depend on which thread trains a half.
enum HelperMode { kHelperAdaptive = 0, kFitOnly = 1, kHelperOnly = 2 };

inline std::atomic<int>& helper_mode() {
    static std::atomic<int> mode{kHelperAdaptive};
    return mode;
}

// Sets helper_mode, returning its previous value.
inline int set_helper_mode(int mode) { return helper_mode().exchange(mode); }

class BatchHelper {
  public:
    typedef void (*Work)(void*);

    BatchHelper() : thread_([this] { loop(); }) {}

    ~BatchHelper() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            quit_.store(true, std::memory_order_relaxed);
        }
        wake_.notify_one();
        thread_.join();
    }

    BatchHelper(const BatchHelper&) = delete;
    BatchHelper& operator=(const BatchHelper&) = delete;

    // Hand out a batch's second half, work(context): offered to the helper, or kept by the
    // fit (see above). The previous batch's must have returned (wait).
    void start(Work work, void* context) {
        work_ = work;
        context_ = context;
        layers_.store(0, std::memory_order_relaxed);
        const long job = started_.load(std::memory_order_relaxed) + 1;
        started_at_ = Clock::now();
        waited_ = Clock::duration::zero();
        fit_cpu_.store(current_cpu(), std::memory_order_relaxed);
        const int mode = helper_mode().load(std::memory_order_relaxed);
        only_helper_ = mode == kHelperOnly;
        const bool due = only_helper_ || (mode == kHelperAdaptive && started_at_ >= keep_until_);
        offered_ = due && (only_helper_ || offering_.load(std::memory_order_relaxed));
        mine_ = !offered_;
        offering_.store(due, std::memory_order_relaxed);  // published with started_
        if (mine_) taken_.store(job, std::memory_order_relaxed);  // before the helper sees it
        {
            std::lock_guard<std::mutex> lock(mutex_);
            started_.store(job, std::memory_order_release);
        }
        if (due) wake_.notify_one();
    }

    // From the work: its part of one more synapse's step is ready.
    void layer_ready() { layers_.fetch_add(1, std::memory_order_release); }

    // Wait until the work has readied `count` synapses' parts, first running it on this
    // thread if the fit kept it or the helper has not taken it yet.
    void wait_layers(int count) {
        if (layers_.load(std::memory_order_acquire) >= count) return;
        const long job = started_.load(std::memory_order_relaxed);
        if (!mine_ && !only_helper_) mine_ = take(job);
        if (mine_) {
            work_(context_);
            finished_.store(job, std::memory_order_release);
            return;
        }
        const Clock::time_point begun = Clock::now();
        for (unsigned spins = 0; layers_.load(std::memory_order_acquire) < count; ++spins)
            relax(spins);
        waited_ += Clock::now() - begun;
    }

    // Wait until the work has returned, then judge an offered batch (see above).
    void wait() {
        const long job = started_.load(std::memory_order_relaxed);
        for (unsigned spins = 0; finished_.load(std::memory_order_acquire) != job; ++spins)
            relax(spins);
        if (!offered_ || only_helper_) return;
        const Clock::time_point now = Clock::now();
        const Clock::duration worked = (now - started_at_) - waited_;
        if (mine_ || waited_ > worked) {
            keep_until_ = now + keep_for_;
            keep_for_ = std::min<Clock::duration>(2 * keep_for_, kKeepAtMost);
        } else {
            keep_for_ = kKeepAtLeast;
        }
    }

  private:
    typedef std::chrono::steady_clock Clock;
    static constexpr std::chrono::milliseconds kKeepAtLeast{2}, kKeepAtMost{32};

    static int current_cpu() {
#if defined(__linux__)
        return sched_getcpu();
#else
        return -1;
#endif
    }

    // Move the calling thread off `cpu` (within its own affinity, which it keeps): woken by
    // the fit, the scheduler tends to wake it on the fit's CPU, where the two take turns.
    static void move_off(int cpu) {
#if defined(__linux__)
        cpu_set_t allowed, elsewhere;
        if (cpu < 0 || sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return;
        elsewhere = allowed;
        CPU_CLR(cpu, &elsewhere);
        if (CPU_COUNT(&elsewhere) > 0 && sched_setaffinity(0, sizeof(elsewhere), &elsewhere) == 0)
            sched_setaffinity(0, sizeof(allowed), &allowed);
#else
        (void)cpu;
#endif
    }

    // Claim batch `job` for the calling thread: true for exactly one of the two.
    bool take(long job) {
        long previous = job - 1;
        return taken_.compare_exchange_strong(previous, job, std::memory_order_acq_rel);
    }

    static void relax(unsigned spins) {
        if (spins < 4096)
            TINYNET_PAUSE();
        else
            std::this_thread::yield();
    }

    // Whether a batch after `seen` has started, or the helper is to quit.
    bool called(long seen) const {
        return started_.load(std::memory_order_acquire) != seen ||
               quit_.load(std::memory_order_relaxed);
    }

    void loop() {
        long seen = 0;
        bool spin = false, trained = false;
        for (;;) {
            const unsigned spins_at_most = trained ? 1u << 16 : 1u << 10;
            for (unsigned spins = 0; spin && spins < spins_at_most && !called(seen); ++spins) {
                if (trained)
                    TINYNET_PAUSE();
                else
                    std::this_thread::yield();
            }
            if (!called(seen)) {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait(lock, [&] { return called(seen); });
                lock.unlock();
                const int fit_cpu = fit_cpu_.load(std::memory_order_relaxed);
                if (fit_cpu >= 0 && current_cpu() == fit_cpu) move_off(fit_cpu);
            }
            if (quit_.load(std::memory_order_relaxed)) return;
            seen = started_.load(std::memory_order_acquire);
            trained = take(seen);
            if (trained) {
                work_(context_);
                finished_.store(seen, std::memory_order_release);
            }
            spin = offering_.load(std::memory_order_relaxed);
        }
    }

    Work work_ = nullptr;
    void* context_ = nullptr;
    std::atomic<long> started_{0}, taken_{0}, finished_{0};
    std::atomic<int> layers_{0};
    std::atomic<bool> offering_{false};  // whether the fit offers batches (the helper spins)
    std::atomic<int> fit_cpu_{-1};        // the CPU the fit last started a batch on
    std::atomic<bool> quit_{false};
    // The fit's side only: this batch's, and how long to keep batches after a loss.
    bool offered_ = false, mine_ = false, only_helper_ = false;
    Clock::time_point started_at_{}, keep_until_{};
    Clock::duration waited_{}, keep_for_{kKeepAtLeast};
    std::mutex mutex_;
    std::condition_variable wake_;
    std::thread thread_;  // last: it starts once the rest is constructed
};

}  // namespace tinynet

#endif  // TINYNET_HELPER_HH
