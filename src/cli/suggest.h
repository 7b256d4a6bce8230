// A mistyped sub-command ("bouncer serv") is answered with the one that was meant and the
// list of them, where CLI11 alone would only say that "serv" was not expected.
#pragma once

#include <CLI/CLI.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bouncer::cli {

// Edits (insertion, deletion, substitution, swap of two neighbours) from `a` to `b`.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate `word` was most likely meant to be: the nearest within 1 edit (2 for words of
// 5 letters or more), else the only one it begins (3 letters at least); none otherwise.
std::optional<std::string> closest(std::string_view word, const std::vector<std::string>& candidates);

// Follows `args` (argv without the program name) down the sub-commands of `app`. When an
// argument stands where a sub-command must and names none, returns what to tell the user:
// the suggestion, if any, and the sub-commands there are. Options and a leaf's own arguments
// are left to CLI11.
std::optional<std::string> unknown_subcommand(CLI::App& app, const std::vector<std::string>& args);

}  // namespace bouncer::cli
