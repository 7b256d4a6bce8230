#include "admin/public_url.h"

namespace bouncer::admin {

std::optional<store::SigningKeyRecord> running_node_with_other_url(const std::vector<store::SigningKeyRecord>& keys,
                                                                   const std::set<std::string>& local_kids,
                                                                   std::string_view public_url, std::int64_t now) {
  for (const auto& k : keys) {
    if (k.public_url.empty() || k.public_url == public_url || local_kids.contains(k.kid)) continue;
    if (k.alive_until && *k.alive_until >= now) return k;
  }
  return std::nullopt;
}

std::string other_url_refusal(const store::SigningKeyRecord& other, std::string_view public_url) {
  return "another node on this store runs with public URL " + other.public_url + " (signing key " + other.kid +
         "), this one with " + std::string(public_url) +
         ": the public URL is the iss and aud of every token, so each node would refuse the other's tokens "
         "as \"Invalid API key\". Give every node the same --public-url (the URL clients reach them at). "
         "A node that stopped without saying so counts as running for up to " +
         std::to_string(kAnnouncementLifetimeSeconds) + " s.";
}

}  // namespace bouncer::admin
