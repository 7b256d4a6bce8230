// Strict JSON: Boost.JSON's SAX parser (basic_parser) driven by a handler that builds the
// value exactly as boost::json::parser does (through a value_stack) and, in addition,
// refuses duplicate member names at every depth (RFC 8259 §4 leaves them undefined;
// RFC 8725 §3.2 and RFC 7515 §4 require JOSE parsers to reject them) and non-finite
// numbers (1e999 would otherwise become Infinity, which JSON cannot express).
//
// With Limits::keep_number_text the handler also keeps each number's text, which Boost.JSON
// 1.81 hands to it with the value (parse_options::numbers, which could keep them in the DOM,
// arrived only in 1.83), and where in the document it is, so that a number too large for a
// double reaches the caller as written.
//
// Everything else comes from Boost.JSON's own options, all at their strict defaults:
// no comments, no trailing commas, UTF-8 validated in strings and keys (lone surrogate
// escapes such as "\ud800" are refused too), NaN / Infinity literals are syntax errors.
//
// Numbers: integers are exact (int64 / uint64); anything else is a double, and Boost.JSON
// 1.81 does not always round decimal input correctly (19e31 comes out one ulp low; precise
// parsing arrived in 1.83). Security decisions must therefore never rest on a non-integer.
#include "json/strict.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value_stack.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

namespace bouncer::json {
namespace {

namespace bj = boost::json;

// Objects with at most this many members are checked for duplicates pairwise; larger ones
// are sorted, so a 64 KiB object of distinct keys costs O(n log n), not O(n^2).
constexpr std::size_t kPairwiseLimit = 16;

class StrictHandler {
 public:
  static constexpr std::size_t max_object_size = bj::object::max_size();
  static constexpr std::size_t max_array_size = bj::array::max_size();
  static constexpr std::size_t max_key_size = bj::string::max_size();
  static constexpr std::size_t max_string_size = bj::string::max_size();

  explicit StrictHandler(bool keep_number_text) : keep_numbers_(keep_number_text) {}

  bj::value_stack& stack() { return st_; }
  const std::string& failure() const { return failure_; }
  std::vector<std::string> take_number_texts() { return std::move(number_texts_); }

  // Where the value being parsed sits (kept only with keep_number_text).
  Path path() const {
    Path out;
    for (const Level& level : levels_) {
      if (level.array) {
        out.emplace_back(level.index);
      } else {
        out.emplace_back(level.key);
      }
    }
    return out;
  }

  bool on_document_begin(bj::error_code&) { return true; }
  bool on_document_end(bj::error_code&) { return true; }

  bool on_object_begin(bj::error_code&) {
    frames_.push_back(keys_.size());
    if (keep_numbers_) levels_.push_back(Level{false, 0, {}});
    return true;
  }

  bool on_object_end(std::size_t n, bj::error_code& ec) {
    const std::size_t first = frames_.back();
    if (!keys_unique(first)) return fail(ec, duplicate_message());
    keys_.resize(first);
    frames_.pop_back();
    st_.push_object(n);
    if (keep_numbers_) levels_.pop_back();
    value_done();
    return true;
  }

  bool on_array_begin(bj::error_code&) {
    if (keep_numbers_) levels_.push_back(Level{true, 0, {}});
    return true;
  }
  bool on_array_end(std::size_t n, bj::error_code&) {
    st_.push_array(n);
    if (keep_numbers_) levels_.pop_back();
    value_done();
    return true;
  }

  bool on_key_part(bj::string_view s, std::size_t, bj::error_code&) {
    key_.append(s.data(), s.size());
    st_.push_chars(s);
    return true;
  }

  bool on_key(bj::string_view s, std::size_t, bj::error_code&) {
    key_.append(s.data(), s.size());
    keys_.push_back(std::move(key_));
    key_.clear();
    st_.push_key(s);
    if (keep_numbers_) levels_.back().key = keys_.back();
    return true;
  }

  bool on_string_part(bj::string_view s, std::size_t, bj::error_code&) {
    st_.push_chars(s);
    return true;
  }
  bool on_string(bj::string_view s, std::size_t, bj::error_code&) {
    st_.push_string(s);
    value_done();
    return true;
  }

  // A number split across input buffers arrives in parts; the last part comes with its value.
  bool on_number_part(bj::string_view s, bj::error_code&) {
    if (keep_numbers_) number_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, bj::string_view s, bj::error_code&) {
    st_.push_int64(i);
    number_done(s);
    return true;
  }
  bool on_uint64(std::uint64_t u, bj::string_view s, bj::error_code&) {
    st_.push_uint64(u);
    number_done(s);
    return true;
  }
  bool on_double(double d, bj::string_view s, bj::error_code& ec) {
    if (!std::isfinite(d) && !keep_numbers_) return fail(ec, "number out of range");
    st_.push_double(d);
    number_done(s);
    return true;
  }
  bool on_bool(bool b, bj::error_code&) {
    st_.push_bool(b);
    value_done();
    return true;
  }
  bool on_null(bj::error_code&) {
    st_.push_null();
    value_done();
    return true;
  }
  // Never called: allow_comments is false, so a comment is a syntax error.
  bool on_comment_part(bj::string_view, bj::error_code&) { return true; }
  bool on_comment(bj::string_view, bj::error_code&) { return true; }

 private:
  struct Level {
    bool array = false;
    std::size_t index = 0;  // arrays: the index of the value being parsed
    std::string key;        // objects: the name of the member being parsed
  };

  void value_done() {
    if (keep_numbers_ && !levels_.empty() && levels_.back().array) ++levels_.back().index;
  }

  void number_done(bj::string_view last_part) {
    if (keep_numbers_) {
      number_.append(last_part.data(), last_part.size());
      number_texts_.push_back(std::move(number_));
      number_.clear();
    }
    value_done();
  }

  bool fail(bj::error_code& ec, std::string message) {
    failure_ = std::move(message);
    ec = bj::error::exception;  // any error stops the parser; failure_ says why
    return false;
  }

  // True when keys_[first..] holds no two equal names. Sets duplicate_ otherwise.
  bool keys_unique(std::size_t first) {
    const std::size_t count = keys_.size() - first;
    if (count <= kPairwiseLimit) {
      for (std::size_t i = first; i < keys_.size(); ++i) {
        for (std::size_t j = i + 1; j < keys_.size(); ++j) {
          if (keys_[i] == keys_[j]) {
            duplicate_ = keys_[i];
            return false;
          }
        }
      }
      return true;
    }
    std::vector<std::string_view> sorted(keys_.begin() + static_cast<std::ptrdiff_t>(first), keys_.end());
    std::sort(sorted.begin(), sorted.end());
    const auto dup = std::adjacent_find(sorted.begin(), sorted.end());
    if (dup == sorted.end()) return true;
    duplicate_ = std::string(*dup);
    return false;
  }

  // Names the duplicate when it is short printable ASCII; the message may reach a client.
  std::string duplicate_message() const {
    const bool printable = duplicate_.size() <= 64 &&
                           std::all_of(duplicate_.begin(), duplicate_.end(),
                                       [](char c) { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'; });
    if (!printable) return "duplicate key in object";
    return "duplicate key \"" + duplicate_ + "\"";
  }

  bj::value_stack st_;
  std::vector<std::string> keys_;     // names of the members of every open object, in order
  std::vector<std::size_t> frames_;   // index in keys_ where each open object's names start
  std::string key_;                   // the name being assembled from on_key_part pieces
  std::string duplicate_;
  std::string failure_;

  bool keep_numbers_;
  std::vector<Level> levels_;              // the open arrays and objects, outermost first
  std::string number_;                     // the number being assembled from parts
  std::vector<std::string> number_texts_;  // every number so far, in document order
};

bool is_number_char(char c) {
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

// The whole number around `at`, where the parser stopped inside it.
std::string number_around(std::string_view text, std::size_t at) {
  std::size_t begin = std::min(at, text.size());
  while (begin > 0 && is_number_char(text[begin - 1])) --begin;
  std::size_t end = std::min(at, text.size());
  while (end < text.size() && is_number_char(text[end])) ++end;
  return std::string(text.substr(begin, end - begin));
}

bj::parse_options strict_options(const Limits& limits) {
  bj::parse_options opt;
  opt.max_depth = limits.max_depth;  // number of nested arrays/objects allowed
  opt.allow_comments = false;
  opt.allow_trailing_commas = false;
  opt.allow_invalid_utf8 = false;
  return opt;
}

}  // namespace

ParseResult parse_strict(std::string_view text, const Limits& limits) {
  ParseResult result;
  if (text.size() > limits.max_bytes) {
    result.error = "JSON document is " + std::to_string(text.size()) + " bytes; the limit is " +
                   std::to_string(limits.max_bytes);
    return result;
  }
  bj::basic_parser<StrictHandler> parser(strict_options(limits), limits.keep_number_text);
  parser.handler().stack().reset();
  bj::error_code ec;
  const std::size_t consumed = parser.write_some(false, text.data(), text.size(), ec);
  if (ec) {
    const std::string& why = parser.handler().failure();
    if (!why.empty()) {
      result.error = "invalid JSON: " + why;
    } else if (ec == bj::error::exponent_overflow) {
      result.error = "invalid JSON: number out of range";
      // On failure write_some returns where the parser stopped: inside the number.
      if (limits.keep_number_text) {
        result.unreadable_number = UnreadableNumber{parser.handler().path(), number_around(text, consumed)};
      }
    } else if (ec == bj::error::too_deep) {
      result.error = "invalid JSON: nested deeper than " + std::to_string(limits.max_depth) + " levels";
    } else {
      result.error = "invalid JSON: " + ec.message();
    }
    return result;
  }
  if (consumed < text.size()) {
    result.error = "invalid JSON: trailing content after the value (offset " +
                   std::to_string(consumed) + ")";
    return result;
  }
  result.value = parser.handler().stack().release();
  result.number_texts = parser.handler().take_number_texts();
  return result;
}

NumberTexts::NumberTexts(const bj::value& root, std::vector<std::string> texts) : texts_(std::move(texts)) {
  // The parser met the numbers in document order, which is the order of a depth-first walk:
  // objects keep their members in insertion order, and duplicate names were refused.
  std::vector<const bj::value*> numbers;
  std::vector<const bj::value*> pending{&root};
  while (!pending.empty()) {
    const bj::value* v = pending.back();
    pending.pop_back();
    if (v->is_number()) {
      numbers.push_back(v);
    } else if (v->is_object()) {
      const bj::object& o = v->get_object();
      for (auto it = o.end(); it != o.begin();) pending.push_back(&(--it)->value());
    } else if (v->is_array()) {
      const bj::array& a = v->get_array();
      for (auto it = a.end(); it != a.begin();) pending.push_back(&*--it);
    }
  }
  if (numbers.size() != texts_.size()) return;  // not that parse's document: know nothing
  for (std::size_t i = 0; i < numbers.size(); ++i) index_.emplace(numbers[i], i);
}

const std::string* NumberTexts::find(const bj::value& number) const {
  const auto it = index_.find(&number);
  return it == index_.end() ? nullptr : &texts_[it->second];
}

}  // namespace bouncer::json
