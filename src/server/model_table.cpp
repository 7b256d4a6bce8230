#include "server/model_table.h"

#include <algorithm>
#include <stdexcept>

namespace bouncer::server {

ModelTable::ModelTable(std::vector<ModelRoute> routes) : routes_(std::move(routes)) {
  for (const auto& model : routes_) {
    const auto url = relay::parse_upstream_url(model.upstream);
    if (!url || !url->tls) continue;
    try {
      tls_by_model_[model.name] = relay::make_client_tls_context(model.ca_file);
    } catch (const std::exception& e) {
      throw std::runtime_error("model " + model.name + ": cannot read ca_file " + model.ca_file + ": " + e.what());
    }
  }
}

const ModelRoute* ModelTable::find(std::string_view name) const {
  for (const auto& m : routes_) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

std::shared_ptr<boost::asio::ssl::context> ModelTable::tls_of(std::string_view name) const {
  const auto it = tls_by_model_.find(name);
  return it == tls_by_model_.end() ? nullptr : it->second;
}

ModelChanges diff_models(const ModelTable& before, const ModelTable& after) {
  ModelChanges out;
  for (const auto& model : after.routes()) {
    const auto* old = before.find(model.name);
    if (!old) {
      out.added.push_back(model.name);
    } else if (!(*old == model)) {
      out.changed.push_back(model.name);
    }
  }
  for (const auto& model : before.routes()) {
    if (!after.find(model.name)) out.removed.push_back(model.name);
  }
  std::sort(out.added.begin(), out.added.end());
  std::sort(out.changed.begin(), out.changed.end());
  std::sort(out.removed.begin(), out.removed.end());
  return out;
}

}  // namespace bouncer::server
