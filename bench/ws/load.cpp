// bouncer_wsload — the WebSocket load generator of the benchmark harness bench/run
// (BENCHMARKS.md). A Beast async client (C++20 coroutines) on 1 or 2 I/O threads.
//
//   bouncer_wsload admit      --url ws://127.0.0.1:P [--model M] [--tokens FILE] [--concurrency 32]
//                             [--duration 10] [--max N] [--size 64]
//       Each operation: TCP connect + WebSocket handshake (to BASE/v1/stream?model=M&api_key=<the
//       next token of FILE> when --model/--tokens are given; to the URL as it is otherwise, e.g.
//       the model server itself: the "direct" baseline) + one text message + its echo + close
//       handshake. Every operation uses a token of its own; none is used twice (--reuse: the
//       tokens of FILE round robin, e.g. one token for every operation: the cached case).
//       --rate R: open loop instead, operation k due at start + k/R (at most --concurrency in
//       flight); its latency runs from the due time. Every operation due within --duration is run
//       even if late, until --grace after the end; one not started by then is an error ("missed")
//       whose wait so far still counts in the latencies.
//   bouncer_wsload throughput --url URL [--model M --tokens FILE] [--sessions 1] [--size 1024]
//                             [--window 64] [--duration 10] [--max N]
//       `sessions` sessions, each keeping `window` binary messages of `size` bytes in flight;
//       counts the echoed bytes received within the duration.
//   bouncer_wsload latency    --url URL [--model M --tokens FILE] [--sessions 100] [--size 64]
//                             [--rate 5000] [--duration 10]
//       Open loop: message k of session i is due at start + (i + k·sessions)/rate; its latency
//       runs from that due time (not from when it was actually sent) to its echo, so a stall
//       is not hidden by sending less (no coordinated omission).
//   bouncer_wsload mint       --url http://127.0.0.1:P --key-file F --count N --out FILE
//                             [--concurrency 32] [--duration 60] [--body JSON]
//       POSTs /v1/client/tokens over keep-alive connections and writes the ek_ keys (apiKey),
//       one a line, to FILE: the tokens `admit` consumes.
//   bouncer_wsload hold       --url URL [--model M --tokens FILE] --sessions N [--concurrency 64]
//                             [--duration 5]
//       Opens N sessions (each: connect + handshake + one message and its echo, at most
//       --concurrency opening at once), prints `READY opened=N …` on stdout, holds them all
//       open and idle for --duration seconds, then closes them: the memory scenario.
//   bouncer_wsload stall      --url URL [--model M --tokens FILE] [--sessions 100] [--messages 4]
//                             [--size 1048576] [--concurrency 64] [--duration 10]
//       Opens N sessions as hold does (each with one 64 B echo), prints `READY opened=N …`, then
//       on each sends --messages binary messages of --size bytes and never reads again: every
//       echo backs up towards a reader that has stalled. Every 250 ms prints `PROGRESS t=S
//       written=W acked=A unread=U` (W messages fully written, A bytes the server's end has
//       acknowledged, U echoed bytes waiting unread in our receive queues, all sessions), for
//       --duration seconds or until SIGUSR1 (the caller measures the server meanwhile), then
//       resets every connection: a write still pending can neither end nor be followed by a
//       close handshake, and the echoes are never read. The stalled scenario.
//   bouncer_wsload flood      --url URL --model M --tokens FILE(invalid credentials) [--rate 20000]
//                             [--concurrency 256] [--duration 10]
//       Open loop: a new connection presenting the next (invalid) credential every 1/rate s,
//       at most --concurrency in flight; each must be refused, in band (an error message and a
//       close, as Bouncer does) or by the HTTP upgrade's status (4xx). An accepted one is an error.
//       It sends what it can: a connection not started by the end (every slot busy) is not sent
//       (not_sent=); the achieved rate is refusals over the time until the last one ended.
//
// Handshake options for every mode: --origin O (the Origin header a browser sends),
// --header 'Name: value' (repeatable; e.g. the model server's shared secret for "direct").
//
// Every run is bounded in count (--max / --count) and in time (--duration, at most 120 s; a
// watchdog stops everything `--grace` + 10 s after the duration, whatever is still pending).
// Only loopback addresses are accepted. The last line printed is `RESULT key=value …` for the
// script; errors are counted by kind, with the first message of each kind, on stderr.
#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
namespace json = boost::json;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr double kMaxDuration = 120;
constexpr auto kConnectTimeout = 5s;
constexpr auto kWsTimeout = 5s;  // handshake, close handshake, and silence while a reply is due

[[noreturn]] void die(const std::string& message) {
  std::cerr << "bouncer_wsload: " << message << "\n";
  std::exit(2);
}

// ---------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------
struct Options {
  std::string mode;
  std::string url;
  std::string model;
  std::string tokens_file;
  std::string key_file;
  std::string out_file;
  std::string body = R"({"expiresIn":3600,"allowedModels":["up"]})";
  std::string origin;
  std::vector<std::pair<std::string, std::string>> headers;
  bool reuse = false;
  unsigned concurrency = 0;  // 0: the mode's default
  unsigned sessions = 0;  // 0: the mode's default
  unsigned threads = 1;
  unsigned window = 64;
  double duration = 10;
  double grace = 2;  // seconds allowed after the duration for echoes still due
  double rate = 0;  // 0: the mode's default (latency 5000, flood 20000; admit: closed loop)
  std::uint64_t max = 0;  // 0: the mode's default
  std::size_t size = 0;   // 0: the mode's default
  unsigned messages = 4;  // stall: messages sent per session
  std::optional<bool> text;
};

[[noreturn]] void usage(const std::string& error) {
  if (!error.empty()) std::cerr << "bouncer_wsload: " << error << "\n";
  std::cerr <<
      "usage: bouncer_wsload admit|throughput|latency|mint|hold|stall|flood [options]   (see the top of bench/ws/load.cpp)\n"
      "  --url URL            ws://127.0.0.1:PORT[/path] (http://… for mint); loopback only\n"
      "  --model M            append /v1/stream?model=M to the URL (Bouncer)\n"
      "  --tokens FILE        one credential a line; admit: one per operation; else one per session\n"
      "  --concurrency N      admit/mint/hold/stall/flood: operations in flight (default 32; hold, stall 64;\n"
      "                       flood 256)\n"
      "  --sessions N         throughput (default 1) / latency, stall (default 100) / hold (default 1000)\n"
      "  --threads 1|2        client I/O threads (default 1)\n"
      "  --duration S         seconds (default 10, at most 120)\n"
      "  --max N              at most N operations (admit) / messages (throughput, latency)\n"
      "  --size B             message bytes (admit, latency: 64; throughput: 1024; stall: 1048576)\n"
      "  --messages N         stall: messages sent per session, never read (default 4, at most 1024)\n"
      "  --window N           throughput: messages in flight per session (default 64)\n"
      "  --rate R             latency: messages per second offered, all sessions (default 5000);\n"
      "                       flood: connections per second (default 20000); admit: open loop at R/s\n"
      "  --reuse              admit: use the tokens of --tokens round robin (default: each once)\n"
      "  --origin O           send Origin: O on every handshake\n"
      "  --header 'N: V'      send this header on every handshake (repeatable)\n"
      "  --text | --binary    message type (admit, latency: text; throughput: binary)\n"
      "  --grace S            seconds to wait for echoes still due after the duration (default 2)\n"
      "  --key-file F --count N --out FILE [--body JSON]   mint\n";
  std::exit(error.empty() ? 0 : 2);
}

Options parse_options(int argc, char** argv) {
  if (argc < 2) usage("");
  Options o;
  o.mode = argv[1];
  if (o.mode == "-h" || o.mode == "--help") usage("");
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(arg + " needs a value");
      return argv[++i];
    };
    const auto number = [&]() -> double {
      const std::string v = value();
      char* end = nullptr;
      const double d = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !(d >= 0)) usage(arg + ": not a non-negative number: " + v);
      return d;
    };
    if (arg == "--url") o.url = value();
    else if (arg == "--model") o.model = value();
    else if (arg == "--tokens") o.tokens_file = value();
    else if (arg == "--key-file") o.key_file = value();
    else if (arg == "--out") o.out_file = value();
    else if (arg == "--body") o.body = value();
    else if (arg == "--origin") o.origin = value();
    else if (arg == "--header") {
      const std::string h = value();
      const auto colon = h.find(':');
      if (colon == std::string::npos || colon == 0) usage("--header wants 'Name: value', got " + h);
      std::string v = h.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      o.headers.emplace_back(h.substr(0, colon), v);
    } else if (arg == "--reuse") o.reuse = true;
    else if (arg == "--concurrency") o.concurrency = static_cast<unsigned>(number());
    else if (arg == "--sessions") o.sessions = static_cast<unsigned>(number());
    else if (arg == "--threads") o.threads = static_cast<unsigned>(number());
    else if (arg == "--window") o.window = static_cast<unsigned>(number());
    else if (arg == "--duration") o.duration = number();
    else if (arg == "--grace") o.grace = number();
    else if (arg == "--rate") o.rate = number();
    else if (arg == "--max" || arg == "--count") o.max = static_cast<std::uint64_t>(number());
    else if (arg == "--size") o.size = static_cast<std::size_t>(number());
    else if (arg == "--messages") o.messages = static_cast<unsigned>(number());
    else if (arg == "--text") o.text = true;
    else if (arg == "--binary") o.text = false;
    else usage("unknown argument " + arg);
  }
  if (o.mode != "admit" && o.mode != "throughput" && o.mode != "latency" && o.mode != "mint" && o.mode != "hold" &&
      o.mode != "stall" && o.mode != "flood") {
    usage("unknown mode " + o.mode);
  }
  if (o.url.empty()) usage("--url is required");
  if (o.duration <= 0 || o.duration > kMaxDuration) usage("--duration must be in (0, 120]");
  if (o.grace > 10) usage("--grace is at most 10");
  if (o.threads < 1 || o.threads > 2) usage("--threads is 1 or 2");
  if (o.concurrency == 0) o.concurrency = o.mode == "hold" || o.mode == "stall" ? 64 : o.mode == "flood" ? 256 : 32;
  if (o.concurrency > 4096) usage("--concurrency must be in [1, 4096]");
  if (o.window < 1 || o.window > 1 << 16) usage("--window must be in [1, 65536]");
  if (o.rate == 0) o.rate = o.mode == "latency" ? 5000 : o.mode == "flood" ? 20000 : 0;
  if ((o.mode == "latency" || o.mode == "flood") && (o.rate <= 0 || o.rate > 1e6)) usage("--rate must be in (0, 1e6]");
  if (o.rate > 1e6) usage("--rate is at most 1e6");
  if (o.sessions == 0) o.sessions = o.mode == "latency" || o.mode == "stall" ? 100 : o.mode == "hold" ? 1000 : 1;
  if (o.sessions > 20000) usage("--sessions is at most 20000");
  if (o.mode == "flood" && (o.tokens_file.empty() || o.model.empty())) {
    usage("flood needs --model M --tokens FILE (invalid credentials)");
  }
  if (o.size == 0) o.size = o.mode == "throughput" ? 1024 : o.mode == "stall" ? 1u << 20 : 64;
  if (o.size > (1u << 20)) usage("--size is at most 1 MiB");
  if (o.messages < 1 || o.messages > 1024) usage("--messages must be in [1, 1024]");
  if (!o.text) o.text = o.mode != "throughput";
  if (o.max == 0) o.max = o.mode == "mint" ? 0 : 100'000'000;
  if (o.mode == "mint" && (o.max == 0 || o.key_file.empty() || o.out_file.empty())) {
    usage("mint needs --count N, --key-file F and --out FILE");
  }
  return o;
}

// ---------------------------------------------------------------------------------------
// URL: scheme://HOST:PORT/target, HOST a loopback address (or "localhost" → 127.0.0.1)
// ---------------------------------------------------------------------------------------
struct Url {
  std::string scheme;
  std::string host_header;  // HOST:PORT as given
  tcp::endpoint endpoint;
  std::string target;  // path and query, "/" at least
};

Url parse_url(const std::string& text, std::string_view want_scheme) {
  const auto sep = text.find("://");
  if (sep == std::string::npos) die("not a URL: " + text);
  Url u;
  u.scheme = text.substr(0, sep);
  if (u.scheme != want_scheme) die("want a " + std::string(want_scheme) + ":// URL, got " + text);
  const auto rest = text.substr(sep + 3);
  const auto slash = rest.find_first_of("/?");
  u.host_header = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (u.target.front() == '?') u.target.insert(0, "/");
  const auto colon = u.host_header.rfind(':');
  if (colon == std::string::npos) die("the URL needs an explicit port: " + text);
  std::string host = u.host_header.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code ec;
  const auto address = net::ip::make_address(host, ec);
  if (ec || !address.is_loopback()) die("only loopback addresses are allowed, got " + host);
  const int port = std::atoi(u.host_header.c_str() + colon + 1);
  if (port <= 0 || port > 65535) die("bad port in " + text);
  u.endpoint = tcp::endpoint(address, static_cast<std::uint16_t>(port));
  return u;
}

std::string stream_target(const Url& url, const std::string& model) {
  if (model.empty()) return url.target;
  std::string t = url.target;
  if (const auto q = t.find('?'); q != std::string::npos) t.resize(q);
  while (!t.empty() && t.back() == '/') t.pop_back();
  return t + "/v1/stream?model=" + model;
}

std::string with_credential(const std::string& target, const std::string& credential) {
  if (credential.empty()) return target;
  return target + (target.find('?') == std::string::npos ? "?" : "&") + "api_key=" + credential;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) die("cannot read " + path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(std::move(line));
  }
  return lines;
}

// ---------------------------------------------------------------------------------------
// Statistics: one Stats per I/O thread (no locks), merged after the threads have joined.
// ---------------------------------------------------------------------------------------
struct Stats {
  std::vector<std::int64_t> latency_ns;
  std::vector<std::int64_t> lag_ns;   // latency: how late each send went out after its due time
  std::uint64_t ops = 0;              // admit: completed operations; mint: tokens
  std::uint64_t messages = 0;         // echoes received within the duration
  std::uint64_t bytes = 0;            // their payload bytes
  std::uint64_t echoed_total = 0;     // echoes received, also during the grace period
  std::uint64_t sent = 0;             // messages sent
  std::uint64_t lost = 0;             // sent, never echoed within the grace period
  std::map<std::string, std::uint64_t> errors;
  std::map<std::string, std::string> first_error;
  std::vector<std::string> tokens;    // mint

  void fail(const std::string& kind, const std::string& detail) {
    if (errors[kind]++ == 0) first_error[kind] = detail;
  }
  void merge(Stats&& o) {
    latency_ns.insert(latency_ns.end(), o.latency_ns.begin(), o.latency_ns.end());
    lag_ns.insert(lag_ns.end(), o.lag_ns.begin(), o.lag_ns.end());
    ops += o.ops;
    messages += o.messages;
    bytes += o.bytes;
    echoed_total += o.echoed_total;
    sent += o.sent;
    lost += o.lost;
    for (auto& [k, n] : o.errors) {
      if (errors[k] == 0) first_error[k] = o.first_error[k];
      errors[k] += n;
    }
    tokens.insert(tokens.end(), std::make_move_iterator(o.tokens.begin()), std::make_move_iterator(o.tokens.end()));
  }
  std::uint64_t error_count() const {
    std::uint64_t n = 0;
    for (const auto& [k, c] : errors) n += c;
    return n;
  }
};

// Nearest-rank percentile of sorted values, in µs.
double percentile_us(const std::vector<std::int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1000.0;
}

double process_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

std::string describe(const beast::error_code& ec) { return ec.message() + " (" + ec.category().name() + ")"; }

std::string make_payload(std::size_t size, bool text) {
  std::string s(size, 'x');
  if (!text) {
    for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 31) % 251);
  }
  return s;
}

// ---------------------------------------------------------------------------------------
// The I/O threads. Each io_context is run by exactly one thread: everything spawned on it is
// on an implicit strand, so the coroutines of one session need no locking. The main thread
// waits until every spawned task is done or the watchdog's deadline passes.
// ---------------------------------------------------------------------------------------
class Runner {
 public:
  explicit Runner(unsigned threads) : stats_(threads) {
    for (unsigned i = 0; i < threads; ++i) {
      iocs_.push_back(std::make_unique<net::io_context>(1));
      guards_.emplace_back(iocs_.back()->get_executor());
    }
  }

  std::size_t size() const { return iocs_.size(); }
  net::io_context& ioc(std::size_t i) { return *iocs_[i % iocs_.size()]; }
  Stats& stats(std::size_t i) { return stats_[i % stats_.size()]; }

  void start() {
    for (auto& ioc : iocs_) {
      threads_.emplace_back([&ioc] { ioc->run(); });
    }
  }

  // Spawns `task` on thread i % threads; counts it until it returns or throws.
  template <class Task>
  void spawn(std::size_t i, Task task) {
    ++active_;
    net::co_spawn(ioc(i), std::move(task), [this, i](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          stats(i).fail("exception", ex.what());
        }
      }
      --active_;
    });
  }

  std::size_t active() const { return active_.load(); }

  // Waits until no task is active or `deadline`; returns false if the deadline stopped it.
  bool wait(Clock::time_point deadline) {
    while (active_.load() > 0 && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
    return active_.load() == 0;
  }

  // Stops every thread (abandoning whatever is still pending) and joins them.
  void stop() {
    guards_.clear();
    for (auto& ioc : iocs_) ioc->stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  Stats merged() {
    Stats all;
    for (auto& s : stats_) all.merge(std::move(s));
    return all;
  }

 private:
  std::vector<std::unique_ptr<net::io_context>> iocs_;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::vector<Stats> stats_;
  std::atomic<std::size_t> active_{0};
};

using WsStream = websocket::stream<beast::tcp_stream>;

// Extra handshake headers (--origin, --header): set once before any I/O thread starts.
std::vector<std::pair<std::string, std::string>> g_handshake_headers;

void set_ws_timeouts(WsStream& ws) {
  websocket::stream_base::timeout t{};
  t.handshake_timeout = kWsTimeout;
  t.idle_timeout = websocket::stream_base::none();  // set per phase where a reply is due
  t.keep_alive_pings = false;
  ws.set_option(t);
  ws.read_message_max(2u << 20);
  ws.auto_fragment(false);
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::request_type& req) {
        req.set(http::field::user_agent, "bouncer_wsload");
        for (const auto& [name, value] : g_handshake_headers) req.set(name, value);
      }));
}

// Connect + handshake; returns an error kind ("" when open). A handshake the server declined
// with a 4xx status returns "declined" without counting an error when `declined_ok` is set.
net::awaitable<std::string> open_ws(WsStream& ws, const Url& url, const std::string& target, Stats& st,
                                    bool declined_ok = false) {
  auto& tcp_layer = beast::get_lowest_layer(ws);
  tcp_layer.expires_after(kConnectTimeout);
  if (auto [ec] = co_await tcp_layer.async_connect(url.endpoint, use_tuple); ec) {
    st.fail("connect", describe(ec));
    co_return "connect";
  }
  tcp_layer.expires_never();
  tcp_layer.socket().set_option(tcp::no_delay(true));
  set_ws_timeouts(ws);
  websocket::response_type res;
  if (auto [ec] = co_await ws.async_handshake(res, url.host_header, target, use_tuple); ec) {
    if (declined_ok && ec == websocket::error::upgrade_declined && res.result_int() >= 400 && res.result_int() < 500) {
      co_return "declined";
    }
    st.fail("handshake", describe(ec) + " status " + std::to_string(res.result_int()));
    co_return "handshake";
  }
  co_return "";
}

// Reads one message while one is due: a silent peer fails the read after kWsTimeout.
void expect_reply(WsStream& ws, bool due) {
  websocket::stream_base::timeout t{};
  t.handshake_timeout = kWsTimeout;
  t.idle_timeout = due ? kWsTimeout : websocket::stream_base::none();
  t.keep_alive_pings = false;
  ws.set_option(t);
}

std::string close_detail(WsStream& ws, const beast::error_code& ec) {
  std::string d = describe(ec);
  if (ec == websocket::error::closed) {
    d += ": close " + std::to_string(ws.reason().code) + " \"" + std::string(ws.reason().reason.c_str()) + "\"";
  }
  return d;
}

// ---------------------------------------------------------------------------------------
// admit
// ---------------------------------------------------------------------------------------
struct AdmitShared {
  Url url;
  std::string target;
  std::vector<std::string> tokens;  // empty: no credential (direct)
  bool use_tokens = false;
  bool reuse = false;  // tokens round robin instead of each once
  std::string payload;
  bool text = true;
  std::uint64_t max = 0;
  double rate = 0;  // > 0: open loop, operation k due at start + k/rate
  Clock::time_point start, stop_at, give_up_at;
  std::atomic<std::uint64_t> next{0};
  std::atomic<bool> tokens_exhausted{false};
};

// The credential of operation i ("" when none is used); false when the tokens ran out.
bool credential_for(AdmitShared& sh, std::uint64_t i, std::string& credential) {
  credential.clear();
  if (!sh.use_tokens) return true;
  if (sh.reuse) {
    credential = sh.tokens[i % sh.tokens.size()];
    return true;
  }
  if (i >= sh.tokens.size()) {
    sh.tokens_exhausted = true;
    return false;
  }
  credential = sh.tokens[i];
  return true;
}

// Open loop: operation i is due at start + i/rate; the schedule ends at stop_at.
struct Due {
  enum { run, end, late } what = end;
  Clock::time_point at;
};

// Waits until operation i is due. `end` once the schedule is over; `late` when every worker was
// busy until past `latest`: the operation is not started (the caller counts it).
net::awaitable<Due> wait_due(const AdmitShared& sh, std::uint64_t i, Clock::time_point latest, Stats& st) {
  Due d;
  d.at = sh.start + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(static_cast<double>(i) / sh.rate));
  if (d.at >= sh.stop_at) co_return d;
  if (d.at > Clock::now()) {
    net::steady_timer timer(co_await net::this_coro::executor);
    timer.expires_at(d.at);
    co_await timer.async_wait(use_tuple);
  }
  const auto now = Clock::now();
  d.what = now > latest ? Due::late : Due::run;
  st.lag_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(now - d.at).count());
  co_return d;
}

// One message and its echo on an open session; false (and counted) when it is not echoed.
net::awaitable<bool> echo_once(WsStream& ws, const std::string& payload, bool text, beast::flat_buffer& buffer,
                               Stats& st) {
  ws.text(text);
  if (auto [ec, n] = co_await ws.async_write(net::buffer(payload), use_tuple); ec) {
    st.fail("write", describe(ec));
    co_return false;
  }
  expect_reply(ws, true);
  buffer.clear();
  if (auto [ec, n] = co_await ws.async_read(buffer, use_tuple); ec) {
    st.fail("read", close_detail(ws, ec));
    co_return false;
  }
  expect_reply(ws, false);
  if (ws.got_text() != text || beast::buffers_to_string(buffer.data()) != payload) {
    // A refusal arrives as a text frame {"type":"error",…} and a close (docs/API.md, "Admission").
    st.fail("not_echo", beast::buffers_to_string(buffer.data()).substr(0, 200));
    co_return false;
  }
  co_return true;
}

net::awaitable<void> admit_worker(AdmitShared& sh, Stats& st) {
  auto ex = co_await net::this_coro::executor;
  beast::flat_buffer buffer;
  std::string credential;
  for (;;) {
    // Closed loop: nothing starts after stop_at. Open loop: every operation due before stop_at is
    // run, late or not, until give_up_at; one still not started then is "missed", and counted in
    // the latencies with its wait so far (a lower bound), so that a stall is not hidden.
    if (sh.rate <= 0 && Clock::now() >= sh.stop_at) break;
    const auto i = sh.next.fetch_add(1);
    if (i >= sh.max) break;
    if (!credential_for(sh, i, credential)) break;
    auto t0 = Clock::now();
    if (sh.rate > 0) {
      const auto due = co_await wait_due(sh, i, sh.give_up_at, st);
      if (due.what == Due::end) break;
      if (due.what == Due::late) {
        st.fail("missed", "not started by the end of the grace period: every connection was busy");
        st.latency_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - due.at).count());
        continue;
      }
      t0 = due.at;  // latency from the due time: a stall is not hidden by starting later
    }
    WsStream ws(ex);
    if (!(co_await open_ws(ws, sh.url, with_credential(sh.target, credential), st)).empty()) continue;
    const bool echo = co_await echo_once(ws, sh.payload, sh.text, buffer, st);
    if (auto [ec] = co_await ws.async_close(websocket::close_code::normal, use_tuple); ec) {
      // After a refusal the server has closed already: that is the not_echo counted above.
      if (echo) st.fail("close", describe(ec));
      continue;
    }
    if (!echo) continue;
    st.latency_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
    ++st.ops;
  }
}

// ---------------------------------------------------------------------------------------
// flood: invalid credentials at a fixed rate; every one must be refused
// ---------------------------------------------------------------------------------------
struct FloodCounts {
  std::atomic<std::uint64_t> refused_in_band{0}, refused_http{0}, accepted{0}, not_sent{0};
};

net::awaitable<void> flood_worker(AdmitShared& sh, FloodCounts& counts, Stats& st) {
  auto ex = co_await net::this_coro::executor;
  beast::flat_buffer buffer;
  std::string credential;
  for (;;) {
    const auto i = sh.next.fetch_add(1);
    if (i >= sh.max) break;
    credential_for(sh, i, credential);
    // The flood offers what it can: a connection not started by stop_at is not sent at all.
    const auto due = co_await wait_due(sh, i, sh.stop_at, st);
    if (due.what == Due::end) break;
    if (due.what == Due::late) {
      ++counts.not_sent;
      continue;
    }
    WsStream ws(ex);
    const std::string opened = co_await open_ws(ws, sh.url, with_credential(sh.target, credential), st, true);
    if (opened == "declined") {
      ++counts.refused_http;
      ++st.ops;
      st.latency_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - due.at).count());
    }
    if (!opened.empty()) continue;
    // Accepted at the HTTP level: a refusal must now come in band, as a message then a close.
    expect_reply(ws, true);
    buffer.clear();
    auto [ec, n] = co_await ws.async_read(buffer, use_tuple);
    const std::string first = ec ? std::string() : beast::buffers_to_string(buffer.data());
    if (!ec) {
      buffer.clear();
      std::tie(ec, n) = co_await ws.async_read(buffer, use_tuple);  // the close (Beast answers it)
    }
    if (ec == websocket::error::closed && ws.reason().code != websocket::close_code::normal &&
        (first.empty() || first.find("\"error\"") != std::string::npos)) {
      ++counts.refused_in_band;
      ++st.ops;
      st.latency_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - due.at).count());
    } else if (!ec) {
      ++counts.accepted;
      st.fail("accepted", "an invalid credential was let in; first message: " + first.substr(0, 200));
      expect_reply(ws, true);  // bounds the close handshake
      co_await ws.async_close(websocket::close_code::normal, use_tuple);
    } else {
      st.fail("read", close_detail(ws, ec) + "; first message: " + first.substr(0, 200));
    }
  }
}

// ---------------------------------------------------------------------------------------
// hold: many idle sessions (memory per session)
// ---------------------------------------------------------------------------------------
struct HoldShared {
  Url url;
  std::string target;
  std::vector<std::string> tokens;  // round robin; empty: no credential
  std::string payload;
  std::size_t sessions = 0;
  std::vector<std::unique_ptr<WsStream>> open;  // slot i: session i once it has echoed
  std::vector<std::size_t> owner;               // slot i: the I/O thread its stream lives on
  Clock::time_point give_up_at;
  std::atomic<std::uint64_t> next{0};
  std::atomic<std::uint64_t> opened{0}, closed_ok{0};
};

net::awaitable<void> hold_open_worker(HoldShared& sh, std::size_t thread, Stats& st) {
  auto ex = co_await net::this_coro::executor;
  beast::flat_buffer buffer;
  for (;;) {
    if (Clock::now() >= sh.give_up_at) break;
    const auto i = sh.next.fetch_add(1);
    if (i >= sh.sessions) break;
    const std::string credential = sh.tokens.empty() ? std::string() : sh.tokens[i % sh.tokens.size()];
    auto ws = std::make_unique<WsStream>(ex);
    if (!(co_await open_ws(*ws, sh.url, with_credential(sh.target, credential), st)).empty()) continue;
    if (!co_await echo_once(*ws, sh.payload, true, buffer, st)) continue;
    // Each slot is written by one worker only, and read after every worker has finished.
    sh.open[i] = std::move(ws);
    sh.owner[i] = thread;
    ++sh.opened;
  }
}

// Closes the sessions of I/O thread `thread` whose slot is first, first + step, …
net::awaitable<void> hold_close_worker(HoldShared& sh, std::size_t thread, std::size_t first, std::size_t step,
                                       Stats& st) {
  for (std::size_t i = first; i < sh.open.size(); i += step) {
    if (!sh.open[i] || sh.owner[i] != thread) continue;
    auto& ws = *sh.open[i];
    expect_reply(ws, true);  // bounds the close handshake
    if (auto [ec] = co_await ws.async_close(websocket::close_code::normal, use_tuple); ec) {
      st.fail("close", describe(ec));
    } else {
      ++sh.closed_ok;
    }
    sh.open[i].reset();
  }
}

// ---------------------------------------------------------------------------------------
// stall: sessions that send and never read (memory per stalled reader). They are opened as
// hold opens them; then each writes its messages, and nothing reads the echoes.
// ---------------------------------------------------------------------------------------
struct StallShared {
  std::string message;
  std::uint64_t messages = 0;
  std::atomic<std::uint64_t> written{0}, reset{0};
  std::atomic<bool> closing{false};
};

// SIGUSR1 ends the hold early: the caller has measured what it wanted.
volatile std::sig_atomic_t g_release = 0;
void on_release(int) { g_release = 1; }

net::awaitable<void> stall_writer(HoldShared& sh, StallShared& ss, std::size_t i, Stats& st) {
  auto& ws = *sh.open[i];
  ws.binary(true);
  for (std::uint64_t k = 0; k < ss.messages; ++k) {
    if (auto [ec, n] = co_await ws.async_write(net::buffer(ss.message), use_tuple); ec) {
      if (!ss.closing) st.fail("write", describe(ec));
      co_return;
    }
    ++ss.written;
    ++st.sent;
  }
}

// Resets the sessions of I/O thread `thread` (SO_LINGER 0, then close): a write still pending
// ends with operation_aborted, and the echoes left unread are dropped.
net::awaitable<void> stall_reset_worker(HoldShared& sh, StallShared& ss, std::size_t thread, Stats& st) {
  for (std::size_t i = 0; i < sh.open.size(); ++i) {
    if (!sh.open[i] || sh.owner[i] != thread) continue;
    auto& socket = beast::get_lowest_layer(*sh.open[i]).socket();
    boost::system::error_code ec;
    socket.set_option(net::socket_base::linger(true, 0), ec);
    socket.close(ec);
    if (ec) {
      st.fail("close", describe(ec));
    } else {
      ++ss.reset;
    }
  }
  co_return;
}

// The kernel's struct tcp_info only grows at its end; glibc's copy (<netinet/tcp.h>; the kernel's
// <linux/tcp.h> clashes with it) stops at tcpi_total_retrans, and tcpi_bytes_acked (Linux 4.1+)
// comes two fields later.
struct TcpInfoAcked {
  tcp_info base;
  std::uint64_t pacing_rate, max_pacing_rate, bytes_acked;
};
static_assert(sizeof(tcp_info) == 104 && offsetof(TcpInfoAcked, bytes_acked) == 120,
              "struct tcp_info is not laid out as Linux's");

struct StallProgress {
  std::uint64_t acked = 0;   // bytes the server's end acknowledged (handshakes included)
  std::uint64_t unread = 0;  // bytes waiting in our receive queues
};

// Read by the main thread from the descriptors of the open sessions, which stay open until the
// hold ends (stall_reset_worker closes them afterwards).
StallProgress stall_progress(const std::vector<int>& fds) {
  StallProgress p;
  for (const int fd : fds) {
    TcpInfoAcked info{};
    socklen_t len = sizeof info;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 && len >= offsetof(TcpInfoAcked, bytes_acked) + 8) {
      p.acked += info.bytes_acked;
    }
    int unread = 0;
    if (ioctl(fd, FIONREAD, &unread) == 0 && unread > 0) p.unread += static_cast<std::uint64_t>(unread);
  }
  return p;
}

// ---------------------------------------------------------------------------------------
// throughput and latency: long sessions
// ---------------------------------------------------------------------------------------
struct StreamShared {
  Url url;
  std::string target;
  std::vector<std::string> tokens;  // one per session (round robin), or none
  std::string payload;
  bool text = false;
  std::size_t window = 64;
  std::uint64_t max_per_session = 0;
  double rate = 0;        // latency mode when > 0
  std::size_t sessions = 1;
  Clock::time_point start, stop_at, give_up_at;
  std::atomic<std::size_t> opened{0}, failed{0};
  std::atomic<bool> go{false};
};

struct Session {
  explicit Session(net::any_io_executor ex) : ws(ex), wake(ex), pace(ex) {}
  WsStream ws;
  beast::flat_buffer buffer;
  net::steady_timer wake;  // the writer waits on it; the reader cancels it to wake the writer
  net::steady_timer pace;  // latency: the send schedule
  std::deque<Clock::time_point> due;  // latency: due time of each message not yet echoed
  std::uint64_t sent = 0, received = 0;
  bool writer_waiting = false;
  bool closing = false;
  bool open = false;
  bool reader_done = false;
};

net::awaitable<void> session_open(StreamShared& sh, std::shared_ptr<Session> s, std::size_t index, Stats& st) {
  const std::string credential = sh.tokens.empty() ? std::string() : sh.tokens[index % sh.tokens.size()];
  if ((co_await open_ws(s->ws, sh.url, with_credential(sh.target, credential), st)).empty()) {
    s->open = true;
    ++sh.opened;
  } else {
    ++sh.failed;
  }
}

net::awaitable<void> session_reader(StreamShared& sh, std::shared_ptr<Session> s, Stats& st) {
  for (;;) {
    // No idle timeout on a long session's read (the writer's drain deadline and then the
    // close handshake's timeout bound it): its options are not changed while it is pending.
    s->buffer.clear();
    auto [ec, n] = co_await s->ws.async_read(s->buffer, use_tuple);
    const auto now = Clock::now();
    if (ec) {
      // Our own close ends the pending read with `closed` (or `operation_aborted`): not an error.
      const bool ours = s->closing && (ec == websocket::error::closed || ec == net::error::operation_aborted);
      if (!ours) st.fail("read", close_detail(s->ws, ec));
      break;
    }
    if (n != sh.payload.size() || s->ws.got_text() != sh.text) {
      st.fail("not_echo", "got " + std::to_string(n) + " bytes: " + beast::buffers_to_string(s->buffer.data()).substr(0, 200));
    }
    ++s->received;
    ++st.echoed_total;
    if (now <= sh.stop_at) {
      ++st.messages;
      st.bytes += n;
    }
    if (!s->due.empty()) {
      st.latency_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(now - s->due.front()).count());
      s->due.pop_front();
    }
    if (s->writer_waiting) s->wake.cancel();
  }
  s->reader_done = true;
  if (s->writer_waiting) s->wake.cancel();
}

// Waits (on `wake`) until `ready()` or `until`; returns ready().
template <class Ready>
net::awaitable<bool> wait_for(Session& s, Clock::time_point until, Ready ready) {
  while (!ready() && !s.reader_done && Clock::now() < until) {
    s.writer_waiting = true;
    s.wake.expires_at(until);
    co_await s.wake.async_wait(use_tuple);
    s.writer_waiting = false;
  }
  co_return ready();
}

net::awaitable<void> session_writer(StreamShared& sh, std::shared_ptr<Session> s, std::size_t index, Stats& st) {
  s->ws.text(sh.text);
  const auto payload = net::buffer(sh.payload);
  for (std::uint64_t k = 0; s->sent < sh.max_per_session && !s->reader_done; ++k) {
    if (sh.rate > 0) {
      // Open loop: due at start + (index + k·sessions) / rate.
      const auto offset = std::chrono::duration<double>((static_cast<double>(index) +
                                                         static_cast<double>(k) * static_cast<double>(sh.sessions)) / sh.rate);
      const auto due = sh.start + std::chrono::duration_cast<Clock::duration>(offset);
      if (due >= sh.stop_at) break;
      if (due > Clock::now()) {
        s->pace.expires_at(due);
        co_await s->pace.async_wait(use_tuple);
      }
      s->due.push_back(due);
      st.lag_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - due).count());
    } else {
      if (Clock::now() >= sh.stop_at) break;
      if (!co_await wait_for(*s, sh.stop_at, [&] { return s->sent - s->received < sh.window; })) continue;
    }
    if (auto [ec, n] = co_await s->ws.async_write(payload, use_tuple); ec) {
      st.fail("write", describe(ec));
      break;
    }
    ++s->sent;
    ++st.sent;
  }
  // Drain: the echoes still due, for at most --grace.
  co_await wait_for(*s, sh.give_up_at, [&] { return s->received >= s->sent; });
  st.lost += s->sent - std::min(s->sent, s->received);
  if (!s->reader_done) {
    s->closing = true;
    if (auto [ec] = co_await s->ws.async_close(websocket::close_code::normal, use_tuple); ec) {
      if (ec != websocket::error::closed) st.fail("close", describe(ec));
    }
  }
}

// ---------------------------------------------------------------------------------------
// mint
// ---------------------------------------------------------------------------------------
struct MintShared {
  Url url;
  std::string key;
  std::string body;
  std::uint64_t count = 0;
  Clock::time_point stop_at;
  std::atomic<std::uint64_t> next{0};
};

net::awaitable<void> mint_worker(MintShared& sh, Stats& st) {
  auto ex = co_await net::this_coro::executor;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  for (;;) {
    if (Clock::now() >= sh.stop_at) break;
    const auto i = sh.next.fetch_add(1);
    if (i >= sh.count) break;
    if (!stream) {
      stream.emplace(ex);
      stream->expires_after(kConnectTimeout);
      if (auto [ec] = co_await stream->async_connect(sh.url.endpoint, use_tuple); ec) {
        st.fail("connect", describe(ec));
        stream.reset();
        continue;
      }
      buffer.clear();
    }
    http::request<http::string_body> req{http::verb::post, "/v1/client/tokens", 11};
    req.set(http::field::host, sh.url.host_header);
    req.set("X-API-KEY", sh.key);
    req.set(http::field::content_type, "application/json");
    req.keep_alive(true);
    req.body() = sh.body;
    req.prepare_payload();
    stream->expires_after(10s);
    http::response<http::string_body> res;
    if (auto [ec, n] = co_await http::async_write(*stream, req, use_tuple); ec) {
      st.fail("write", describe(ec));
      stream.reset();
      continue;
    }
    if (auto [ec, n] = co_await http::async_read(*stream, buffer, res, use_tuple); ec) {
      st.fail("read", describe(ec));
      stream.reset();
      continue;
    }
    if (res.result() != http::status::ok) {
      st.fail("status_" + std::to_string(res.result_int()), res.body().substr(0, 300));
    } else {
      boost::system::error_code jec;
      const auto v = json::parse(res.body(), jec);
      const auto* o = jec ? nullptr : v.if_object();
      const auto* key = o ? o->if_contains("apiKey") : nullptr;
      if (key && key->is_string()) {
        st.tokens.emplace_back(key->as_string());
        ++st.ops;
      } else {
        st.fail("bad_answer", res.body().substr(0, 300));
      }
    }
    if (!res.keep_alive()) stream.reset();
  }
}

// ---------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------
void print_errors(const Stats& all) {
  for (const auto& [kind, n] : all.errors) {
    std::cerr << "error " << kind << " ×" << n << ", first: " << all.first_error.at(kind) << "\n";
  }
}

std::string fixed(double v, int digits = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Many sessions need many descriptors: raise the soft limit to the hard one.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// Opens o.sessions sessions for hold and stall, each with one text echo of `echo_size` bytes, at
// most o.concurrency at once and for at most 60 s, whatever the hold time; false if the watchdog
// stopped it.
bool open_held(HoldShared& sh, Runner& runner, const Options& o, std::size_t echo_size) {
  sh.url = parse_url(o.url, "ws");
  sh.target = stream_target(sh.url, o.model);
  if (!o.tokens_file.empty()) sh.tokens = read_lines(o.tokens_file);
  if (!o.tokens_file.empty() && sh.tokens.empty()) die("no token in " + o.tokens_file);
  sh.payload = make_payload(echo_size, true);
  sh.sessions = o.sessions;
  sh.open.resize(o.sessions);
  sh.owner.resize(o.sessions);
  sh.give_up_at = Clock::now() + 60s;
  runner.start();
  for (unsigned w = 0; w < o.concurrency; ++w) {
    runner.spawn(w, hold_open_worker(sh, w % runner.size(), runner.stats(w)));
  }
  return runner.wait(sh.give_up_at + 10s);
}

int run(const Options& o) {
  raise_fd_limit();
  if (!o.origin.empty()) g_handshake_headers.emplace_back("Origin", o.origin);
  g_handshake_headers.insert(g_handshake_headers.end(), o.headers.begin(), o.headers.end());
  Runner runner(o.threads);
  const double cpu0 = process_cpu_seconds();
  const auto duration = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration));
  const auto grace = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.grace));
  bool clean = true;
  std::ostringstream result;

  if (o.mode == "mint") {
    MintShared sh;
    sh.url = parse_url(o.url, "http");
    const auto key = read_lines(o.key_file);
    if (key.empty()) die("no key in " + o.key_file);
    sh.key = key.front();
    sh.body = o.body;
    sh.count = o.max;
    const auto t0 = Clock::now();
    sh.stop_at = t0 + duration;
    runner.start();
    for (unsigned w = 0; w < o.concurrency; ++w) runner.spawn(w, mint_worker(sh, runner.stats(w)));
    clean = runner.wait(sh.stop_at + 10s);
    runner.stop();
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    Stats all = runner.merged();
    print_errors(all);
    std::ofstream out(o.out_file, std::ios::trunc);
    for (const auto& t : all.tokens) out << t << "\n";
    if (!out.flush()) die("cannot write " + o.out_file);
    std::cout << "minted " << all.ops << " tokens in " << fixed(elapsed, 2) << " s (" << fixed(all.ops / elapsed, 0)
              << "/s) into " << o.out_file << "; errors " << all.error_count() << "\n";
    result << "RESULT mode=mint tokens=" << all.ops << " errors=" << all.error_count() << " elapsed_s=" << fixed(elapsed, 3);
  } else if (o.mode == "admit" || o.mode == "flood") {
    const bool flood = o.mode == "flood";
    AdmitShared sh;
    FloodCounts counts;
    sh.url = parse_url(o.url, "ws");
    sh.target = stream_target(sh.url, o.model);
    if (!o.tokens_file.empty()) {
      sh.tokens = read_lines(o.tokens_file);
      if (sh.tokens.empty()) die("no token in " + o.tokens_file);
      sh.use_tokens = true;
    }
    sh.reuse = o.reuse || flood;
    sh.text = *o.text;
    sh.payload = make_payload(o.size, sh.text);
    sh.max = o.max;
    sh.rate = o.rate;
    runner.start();
    // Open loop: the schedule starts once every worker is waiting for it.
    sh.start = Clock::now() + (sh.rate > 0 ? 20ms : 0ms);
    const auto t0 = sh.start;
    sh.stop_at = t0 + duration;
    sh.give_up_at = sh.stop_at + grace;
    for (unsigned w = 0; w < o.concurrency; ++w) {
      if (flood) {
        runner.spawn(w, flood_worker(sh, counts, runner.stats(w)));
      } else {
        runner.spawn(w, admit_worker(sh, runner.stats(w)));
      }
    }
    clean = runner.wait(sh.stop_at + grace + 10s);
    const auto t1 = Clock::now();
    runner.stop();
    // Valid admissions at a fixed rate: over the schedule's length (each one was run or counted as
    // missed). Otherwise (closed loop, and the flood, which only sends what it can): until the
    // last operation ended.
    const double elapsed =
        std::chrono::duration<double>(sh.rate > 0 && !flood && !sh.tokens_exhausted ? sh.stop_at - t0 : t1 - t0).count();
    Stats all = runner.merged();
    std::sort(all.latency_ns.begin(), all.latency_ns.end());
    std::sort(all.lag_ns.begin(), all.lag_ns.end());
    print_errors(all);
    if (sh.tokens_exhausted) std::cerr << "note: ran out of tokens after " << sh.tokens.size() << " operations\n";
    const std::string what = flood ? "flood: refused " : "admit: ";
    std::cout << what << all.ops << " ok, " << all.error_count() << " errors in " << fixed(elapsed, 2) << " s = "
              << fixed(all.ops / elapsed, 0) << (flood ? " refusals/s" : " admissions/s");
    if (sh.rate > 0) std::cout << " (offered " << fixed(sh.rate, 0) << "/s; start lag p99 " << fixed(percentile_us(all.lag_ns, 0.99)) << " us)";
    std::cout << "; latency p50 " << fixed(percentile_us(all.latency_ns, 0.5)) << " us, p99 "
              << fixed(percentile_us(all.latency_ns, 0.99)) << " us, max " << fixed(percentile_us(all.latency_ns, 1.0))
              << " us\n";
    result << "RESULT mode=" << o.mode << " ops=" << all.ops << " errors=" << all.error_count()
           << " elapsed_s=" << fixed(elapsed, 3) << " ops_per_s=" << fixed(all.ops / elapsed)
           << " offered_per_s=" << fixed(sh.rate, 0) << " p50_us=" << fixed(percentile_us(all.latency_ns, 0.5))
           << " p99_us=" << fixed(percentile_us(all.latency_ns, 0.99))
           << " max_us=" << fixed(percentile_us(all.latency_ns, 1.0))
           << " lag_p99_us=" << fixed(percentile_us(all.lag_ns, 0.99))
           << " tokens_exhausted=" << (sh.tokens_exhausted ? 1 : 0);
    if (flood) {
      result << " refused_in_band=" << counts.refused_in_band << " refused_http=" << counts.refused_http
             << " accepted=" << counts.accepted << " not_sent=" << counts.not_sent;
    }
  } else if (o.mode == "hold") {
    HoldShared sh;
    const auto t0 = Clock::now();
    clean = open_held(sh, runner, o, o.size);
    const double open_s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::cout << "READY opened=" << sh.opened << " of " << o.sessions << " in " << fixed(open_s, 2) << " s" << std::endl;
    // Hold: every session open and idle (the caller measures the servers now).
    std::this_thread::sleep_for(std::chrono::duration<double>(o.duration));
    const auto t1 = Clock::now();
    const std::size_t per_thread = std::max<std::size_t>(1, o.concurrency / runner.size());
    for (std::size_t t = 0; t < runner.size(); ++t) {
      for (std::size_t k = 0; k < per_thread; ++k) runner.spawn(t, hold_close_worker(sh, t, k, per_thread, runner.stats(t)));
    }
    clean = runner.wait(Clock::now() + 30s) && clean;
    const double close_s = std::chrono::duration<double>(Clock::now() - t1).count();
    runner.stop();
    sh.open.clear();
    Stats all = runner.merged();
    print_errors(all);
    std::cout << "hold: " << sh.opened << " of " << o.sessions << " sessions opened in " << fixed(open_s, 2)
              << " s, held " << fixed(o.duration, 1) << " s, " << sh.closed_ok << " closed cleanly in "
              << fixed(close_s, 2) << " s; errors " << all.error_count() << "\n";
    result << "RESULT mode=hold sessions=" << o.sessions << " opened=" << sh.opened << " closed_ok=" << sh.closed_ok
           << " errors=" << all.error_count() << " open_s=" << fixed(open_s, 3) << " close_s=" << fixed(close_s, 3);
  } else if (o.mode == "stall") {
    std::signal(SIGUSR1, on_release);  // before READY: the caller signals only after it
    HoldShared sh;
    StallShared ss;
    const auto t0 = Clock::now();
    clean = open_held(sh, runner, o, 64);
    const double open_s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::cout << "READY opened=" << sh.opened << " of " << o.sessions << " in " << fixed(open_s, 2) << " s" << std::endl;
    std::vector<int> fds;
    for (const auto& ws : sh.open) {
      if (ws) fds.push_back(beast::get_lowest_layer(*ws).socket().native_handle());
    }
    ss.message = make_payload(o.size, false);
    ss.messages = o.messages;
    for (std::size_t i = 0; i < sh.open.size(); ++i) {
      if (sh.open[i]) runner.spawn(sh.owner[i], stall_writer(sh, ss, i, runner.stats(sh.owner[i])));
    }
    // Hold: the writers write what the server takes; nothing reads. At most --duration.
    const auto t1 = Clock::now();
    const auto hold_until = t1 + duration;
    auto next_report = t1;
    StallProgress progress;
    while (!g_release && Clock::now() < hold_until) {
      if (Clock::now() >= next_report) {
        progress = stall_progress(fds);
        std::cout << "PROGRESS t=" << fixed(std::chrono::duration<double>(Clock::now() - t1).count(), 2)
                  << " written=" << ss.written << " acked=" << progress.acked << " unread=" << progress.unread
                  << std::endl;
        next_report = std::max(next_report + 250ms, Clock::now());  // no burst after a stall of ours
      }
      std::this_thread::sleep_for(10ms);
    }
    progress = stall_progress(fds);
    const std::uint64_t written = ss.written;
    const bool released = g_release != 0;
    const auto t2 = Clock::now();
    const double held_s = std::chrono::duration<double>(t2 - t1).count();
    ss.closing = true;
    for (std::size_t t = 0; t < runner.size(); ++t) runner.spawn(t, stall_reset_worker(sh, ss, t, runner.stats(t)));
    clean = runner.wait(Clock::now() + 30s) && clean;
    const double close_s = std::chrono::duration<double>(Clock::now() - t2).count();
    runner.stop();
    sh.open.clear();
    Stats all = runner.merged();
    print_errors(all);
    std::cout << "stall: " << sh.opened << " of " << o.sessions << " sessions opened in " << fixed(open_s, 2) << " s; "
              << written << " of " << sh.opened * o.messages << " messages of " << o.size << " B written, "
              << progress.acked << " bytes acknowledged, " << progress.unread << " echoed bytes unread after "
              << fixed(held_s, 2) << " s" << (released ? " (released)" : "") << "; " << ss.reset << " reset in "
              << fixed(close_s, 2) << " s; errors " << all.error_count() << "\n";
    result << "RESULT mode=stall sessions=" << o.sessions << " opened=" << sh.opened << " messages=" << o.messages
           << " size=" << o.size << " written=" << written << " acked_bytes=" << progress.acked
           << " unread_bytes=" << progress.unread << " released=" << (released ? 1 : 0) << " reset=" << ss.reset
           << " errors=" << all.error_count() << " open_s=" << fixed(open_s, 3) << " held_s=" << fixed(held_s, 3)
           << " close_s=" << fixed(close_s, 3);
  } else {
    const bool latency = o.mode == "latency";
    StreamShared sh;
    sh.url = parse_url(o.url, "ws");
    sh.target = stream_target(sh.url, o.model);
    if (!o.tokens_file.empty()) sh.tokens = read_lines(o.tokens_file);
    if (!o.tokens_file.empty() && sh.tokens.empty()) die("no token in " + o.tokens_file);
    sh.text = *o.text;
    sh.payload = make_payload(o.size, sh.text);
    sh.window = o.window;
    sh.sessions = o.sessions;
    sh.max_per_session = std::max<std::uint64_t>(1, o.max / o.sessions);
    sh.rate = latency ? o.rate : 0;
    runner.start();
    // 1. Open every session (not timed).
    std::vector<std::shared_ptr<Session>> sessions;
    for (std::size_t i = 0; i < o.sessions; ++i) {
      sessions.push_back(std::make_shared<Session>(runner.ioc(i).get_executor()));
      runner.spawn(i, session_open(sh, sessions.back(), i, runner.stats(i)));
    }
    if (!runner.wait(Clock::now() + 15s)) die("sessions did not open within 15 s");
    if (sh.opened != o.sessions) {
      runner.stop();
      Stats all = runner.merged();
      print_errors(all);
      die(std::to_string(sh.failed.load()) + " of " + std::to_string(o.sessions) + " sessions failed to open");
    }
    // 2. Run them.
    sh.start = Clock::now() + 20ms;
    sh.stop_at = sh.start + duration;
    sh.give_up_at = sh.stop_at + grace;
    for (std::size_t i = 0; i < o.sessions; ++i) {
      runner.spawn(i, session_reader(sh, sessions[i], runner.stats(i)));
      runner.spawn(i, session_writer(sh, sessions[i], i, runner.stats(i)));
    }
    clean = runner.wait(sh.give_up_at + 10s);
    runner.stop();
    const double elapsed = std::chrono::duration<double>(sh.stop_at - sh.start).count();
    Stats all = runner.merged();
    print_errors(all);
    if (latency) {
      std::sort(all.latency_ns.begin(), all.latency_ns.end());
      std::sort(all.lag_ns.begin(), all.lag_ns.end());
      std::cout << "latency: " << o.sessions << " sessions, offered " << fixed(o.rate, 0) << " msg/s of " << o.size
                << " B, sent " << all.sent << " (" << fixed(all.sent / elapsed, 0) << "/s), echoed " << all.echoed_total
                << ", lost " << all.lost << "; p50 " << fixed(percentile_us(all.latency_ns, 0.5)) << " us, p99 "
                << fixed(percentile_us(all.latency_ns, 0.99)) << " us, p99.9 " << fixed(percentile_us(all.latency_ns, 0.999))
                << " us, max " << fixed(percentile_us(all.latency_ns, 1.0)) << " us; send lag p99 "
                << fixed(percentile_us(all.lag_ns, 0.99)) << " us\n";
      result << "RESULT mode=latency sessions=" << o.sessions << " offered_per_s=" << fixed(o.rate, 0)
             << " sent=" << all.sent << " sent_per_s=" << fixed(all.sent / elapsed) << " echoed=" << all.echoed_total
             << " lost=" << all.lost << " errors=" << all.error_count()
             << " p50_us=" << fixed(percentile_us(all.latency_ns, 0.5))
             << " p99_us=" << fixed(percentile_us(all.latency_ns, 0.99))
             << " p999_us=" << fixed(percentile_us(all.latency_ns, 0.999))
             << " max_us=" << fixed(percentile_us(all.latency_ns, 1.0))
             << " lag_p99_us=" << fixed(percentile_us(all.lag_ns, 0.99)) << " elapsed_s=" << fixed(elapsed, 3);
    } else {
      const double mb_s = static_cast<double>(all.bytes) / elapsed / 1e6;
      std::cout << "throughput: " << o.sessions << " session(s), window " << o.window << ", " << o.size << " B "
                << (sh.text ? "text" : "binary") << ": " << all.messages << " echoes in " << fixed(elapsed, 2) << " s = "
                << fixed(mb_s, 1) << " MB/s, " << fixed(all.messages / elapsed, 0) << " msg/s; echoed in all "
                << all.echoed_total << ", lost " << all.lost << "\n";
      result << "RESULT mode=throughput sessions=" << o.sessions << " size=" << o.size << " window=" << o.window
             << " messages=" << all.messages << " bytes=" << all.bytes << " elapsed_s=" << fixed(elapsed, 3)
             << " mb_per_s=" << fixed(mb_s, 2) << " msgs_per_s=" << fixed(all.messages / elapsed)
             << " sent=" << all.sent << " echoed=" << all.echoed_total << " lost=" << all.lost
             << " errors=" << all.error_count();
    }
  }
  if (!clean) std::cerr << "watchdog: stopped with tasks still pending\n";
  result << " clean=" << (clean ? 1 : 0) << " client_cpu_s=" << fixed(process_cpu_seconds() - cpu0, 3);
  std::cout << result.str() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse_options(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "bouncer_wsload: " << e.what() << "\n";
    return 1;
  }
}
