// A fixed pool of worker threads that runs tasks in parallel and hands results
// back in submission order, so that output never depends on the thread count.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace cream::data {

template <typename Task, typename Result>
class OrderedPool {
 public:
  // `work` must not throw (encode errors travel inside Result).
  OrderedPool(int threads, std::function<Result(const Task&)> work) : work_(std::move(work)) {
    for (int i = 0; i < std::max(1, threads); ++i) workers_.emplace_back([this] { run(); });
  }
  ~OrderedPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    task_ready_.notify_all();
    for (auto& worker : workers_) worker.join();
  }
  OrderedPool(const OrderedPool&) = delete;
  OrderedPool& operator=(const OrderedPool&) = delete;

  void submit(Task task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      pending_.emplace_back(next_submit_++, std::move(task));
    }
    task_ready_.notify_one();
  }

  size_t in_flight() const { return next_submit_ - next_collect_; }

  // Blocks until the oldest submitted task is done; call only when in_flight() > 0.
  Result collect() {
    std::unique_lock<std::mutex> lock(mutex_);
    result_ready_.wait(lock, [&] { return done_.count(next_collect_) > 0; });
    auto node = done_.extract(next_collect_++);
    return std::move(node.mapped());
  }

 private:
  void run() {
    for (;;) {
      std::pair<size_t, Task> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        task_ready_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
        if (stopping_) return;
        job = std::move(pending_.front());
        pending_.pop_front();
      }
      Result result = work_(job.second);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.emplace(job.first, std::move(result));
      }
      result_ready_.notify_all();
    }
  }

  std::function<Result(const Task&)> work_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable task_ready_, result_ready_;
  std::deque<std::pair<size_t, Task>> pending_;
  std::map<size_t, Result> done_;
  size_t next_submit_ = 0;   // touched by the owning thread only
  size_t next_collect_ = 0;  // touched by the owning thread only
  bool stopping_ = false;
};

}  // namespace cream::data
