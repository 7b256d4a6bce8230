#include "cli/suggest.h"

#include <algorithm>

namespace bouncer::cli {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment: Levenshtein plus the swap of two adjacent letters ("lsit").
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

std::optional<std::string> closest(std::string_view word, const std::vector<std::string>& candidates) {
  const std::size_t allowed = word.size() >= 5 ? 2 : 1;
  std::optional<std::string> best;
  std::size_t best_distance = allowed + 1;
  for (const auto& c : candidates) {
    const auto d = edit_distance(word, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  if (best) return best;
  if (word.size() < 3) return std::nullopt;
  std::vector<std::string> starting;
  for (const auto& c : candidates) {
    if (c.starts_with(word)) starting.push_back(c);
  }
  if (starting.size() == 1) return starting.front();
  return std::nullopt;
}

std::optional<std::string> unknown_subcommand(CLI::App& app, const std::vector<std::string>& args) {
  CLI::App* current = &app;
  std::string path = app.get_name();
  for (const auto& arg : args) {
    if (arg.empty() || arg.front() == '-') return std::nullopt;
    const auto subs = current->get_subcommands([](CLI::App*) { return true; });
    if (subs.empty()) return std::nullopt;  // a leaf: the rest are its own arguments
    const auto it = std::find_if(subs.begin(), subs.end(), [&](CLI::App* s) { return s->get_name() == arg; });
    if (it != subs.end()) {
      current = *it;
      path += " " + arg;
      continue;
    }
    std::vector<std::string> names;
    for (const auto* s : subs) names.push_back(s->get_name());
    std::string message = "'" + arg + "' is not a command of " + path + ".";
    if (const auto meant = closest(arg, names)) message += " Did you mean '" + *meant + "'?";
    message += "\nCommands:";
    std::size_t width = 0;
    for (const auto* s : subs) width = std::max(width, s->get_name().size());
    for (const auto* s : subs) {
      message += "\n  " + s->get_name() + std::string(width - s->get_name().size() + 2, ' ') + s->get_description();
    }
    message += "\nSee: " + path + " --help";
    return message;
  }
  return std::nullopt;
}

}  // namespace bouncer::cli
