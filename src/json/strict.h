// Strict JSON parsing (RFC 8259 + RFC 8725 §3.2 hygiene): Boost.JSON silently keeps one of
// two duplicate keys, which lets "alg" or "exp" be smuggled past one reader and not another,
// so every untrusted JSON document goes through this parser instead.
#pragma once

#include <boost/json/value.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace bouncer::json {

struct Limits {
  std::size_t max_depth = 16;
  std::size_t max_bytes = 64 * 1024;
  // For callers that answer a person about the numbers they sent: keep the text of every
  // number as written (ParseResult::number_texts: "6e1", not 60.0), and accept numbers beyond
  // a double's range as +/-infinity instead of refusing the whole document, so that the caller
  // refuses them by its own rules, in its own order, quoting them ("1e400"). Off, such a
  // number makes the document invalid.
  bool keep_number_text = false;
};

// Where a value sits in a document: member names and array indices, from the root.
using PathItem = std::variant<std::string, std::size_t>;
using Path = std::vector<PathItem>;

// A number whose exponent is too large for the parser to read at all (1e2147483648): the
// document cannot be parsed further, so this is where and what it was.
struct UnreadableNumber {
  Path path;
  std::string text;
};

struct ParseResult {
  std::optional<boost::json::value> value;  // set on success
  std::string error;                        // human-readable reason otherwise
  // With Limits::keep_number_text: the text of every number, in document order.
  std::vector<std::string> number_texts;
  // With Limits::keep_number_text, when parsing stopped at such a number (`error` is set too).
  std::optional<UnreadableNumber> unreadable_number;
};

// Parses `text` as one JSON value. Refuses: invalid UTF-8, duplicate keys in any object at
// any depth, comments, trailing commas or trailing content, nesting deeper than
// limits.max_depth, input longer than limits.max_bytes, and (unless limits.keep_number_text)
// numbers beyond a double's range.
ParseResult parse_strict(std::string_view text, const Limits& limits = {});

// The written text of each number of a parsed document, found from the number's value.
// Build it when the document is where it will stay: it holds addresses of values inside it.
class NumberTexts {
 public:
  NumberTexts() = default;
  // `texts`: ParseResult::number_texts of the parse that produced `root`.
  NumberTexts(const boost::json::value& root, std::vector<std::string> texts);

  // The text `number` was written as, or nullptr when it is not a number of that document.
  const std::string* find(const boost::json::value& number) const;

 private:
  std::vector<std::string> texts_;
  std::unordered_map<const boost::json::value*, std::size_t> index_;
};

}  // namespace bouncer::json
