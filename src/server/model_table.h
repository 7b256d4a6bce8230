// The models this server serves, as one immutable table that a reload (SIGHUP) replaces
// whole. Readers (a mint checking a model name, the door admitting a session) take the
// current table with one atomic load; an admitted session keeps the table it was admitted
// under, so a model removed by a reload serves its live sessions to their end while new
// admissions see the new set.
#pragma once

#include "server/options.h"

#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bouncer::server {

class ModelTable {
 public:
  // Builds the TLS client context of every wss:// model (its ca_file read now). Throws
  // std::runtime_error naming the model when one cannot be built.
  explicit ModelTable(std::vector<ModelRoute> routes);

  const ModelRoute* find(std::string_view name) const;
  // The TLS context for a wss:// model's upstream; null for a ws:// one.
  std::shared_ptr<boost::asio::ssl::context> tls_of(std::string_view name) const;
  const std::vector<ModelRoute>& routes() const { return routes_; }

 private:
  std::vector<ModelRoute> routes_;
  std::map<std::string, std::shared_ptr<boost::asio::ssl::context>, std::less<>> tls_by_model_;
};

// What a reload changed, by model name (sorted).
struct ModelChanges {
  std::vector<std::string> added;
  std::vector<std::string> changed;
  std::vector<std::string> removed;
  bool empty() const { return added.empty() && changed.empty() && removed.empty(); }
};
ModelChanges diff_models(const ModelTable& before, const ModelTable& after);

class ModelCatalog {
 public:
  explicit ModelCatalog(std::shared_ptr<const ModelTable> initial) : table_(std::move(initial)) {}

  std::shared_ptr<const ModelTable> current() const { return table_.load(std::memory_order_acquire); }
  void replace(std::shared_ptr<const ModelTable> next) { table_.store(std::move(next), std::memory_order_release); }

 private:
  std::atomic<std::shared_ptr<const ModelTable>> table_;
};

}  // namespace bouncer::server
