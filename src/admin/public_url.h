// Every node sharing a store must serve one public URL: it is the iss and aud of every token,
// so a token minted by a node with another URL is refused by the others as "Invalid API key",
// which tells its client nothing. Each node therefore announces its URL with its active
// signing key (store::SigningKeyRecord::public_url) and renews a heartbeat (alive_until) while
// it runs; a node refuses to start while another running node announces another URL.
#pragma once

#include "store/store.h"

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace bouncer::admin {

// A running node renews its announcement this often; one not renewed for
// kAnnouncementLifetimeSeconds is taken for a node that died (a clean stop clears it at once).
inline constexpr std::int64_t kAnnounceEverySeconds = 5;
inline constexpr std::int64_t kAnnouncementLifetimeSeconds = 15;

// A signing key of another node (not among `local_kids`, this data directory's own) whose node
// runs at `now` (by its heartbeat) and announced another URL than `public_url`; the first such
// key, if any. This node's own keys never count: a node restarted after a crash with a new URL
// is not its own obstacle.
std::optional<store::SigningKeyRecord> running_node_with_other_url(const std::vector<store::SigningKeyRecord>& keys,
                                                                   const std::set<std::string>& local_kids,
                                                                   std::string_view public_url, std::int64_t now);

// Why this node must not start: both URLs, and what to do.
std::string other_url_refusal(const store::SigningKeyRecord& other, std::string_view public_url);

}  // namespace bouncer::admin
