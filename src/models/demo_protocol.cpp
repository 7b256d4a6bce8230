#include "models/demo_protocol.h"

#include "json/strict.h"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace bouncer::models::demo {
namespace {

// Echoing an unknown "type" back helps whoever is writing a client; a long one is cut.
constexpr std::size_t kMaxEchoedType = 64;

Reply error(std::string message) {
  boost::json::object o;
  o["type"] = "error";
  o["error"] = message;
  return {boost::json::serialize(o), false};
}

}  // namespace

Reply handle(std::string_view message, bool is_text) {
  if (!is_text) return error("Binary messages are not supported; send JSON text");

  // Untrusted input: the strict parser refuses duplicate keys, so "type" means one thing.
  auto parsed = json::parse_strict(message, {.max_depth = 16, .max_bytes = kMaxMessageBytes});
  if (!parsed.value) return error("Invalid JSON: " + parsed.error);
  const auto* object = parsed.value->if_object();
  if (object == nullptr) return error("Expected a JSON object");

  const auto* type = object->if_contains("type");
  if (type == nullptr || !type->is_string()) return error("Missing \"type\" (a string)");
  const std::string_view kind = type->get_string();

  if (kind == "prompt") {
    const auto* prompt = object->if_contains("prompt");
    if (prompt == nullptr || !prompt->is_string()) return error("\"prompt\" must be a string");
    boost::json::object ack;
    ack["type"] = "prompt_ack";
    ack["prompt"] = prompt->get_string();
    return {boost::json::serialize(ack), true};
  }

  std::string shown(kind);
  if (shown.size() > kMaxEchoedType) {
    // Cut on a UTF-8 boundary: a text frame carrying half a character would be refused.
    std::size_t cut = kMaxEchoedType;
    while (cut > 0 && (static_cast<unsigned char>(shown[cut]) & 0xC0) == 0x80) --cut;
    shown.resize(cut);
    shown += "…";
  }
  return error("Unknown type \"" + shown + "\"; expected \"prompt\"");
}

std::string tick(std::uint64_t seconds) {
  boost::json::object o;
  o["type"] = "generation_tick";
  o["seconds"] = seconds;
  return boost::json::serialize(o);
}

}  // namespace bouncer::models::demo
