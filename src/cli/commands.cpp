#include "cli/commands.h"

#include "admin/api_keys.h"
#include "admin/data_dir.h"
#include "admin/signing_keys.h"
#include "cli/config.h"
#include "cli/suggest.h"
#include "json/write.h"
#include "log/log.h"
#include "policy/admission.h"
#include "server/responses.h"
#include "server/server.h"
#include "server/state.h"
#include "server/verdict.h"
#include "token/base64url.h"
#include "token/jwt.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace bouncer::cli {
namespace {

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string when(const std::optional<std::int64_t>& t) { return t ? server::rfc3339(*t) : "-"; }

void setup_logging(const Config& config) {
  log::Format format{};
  log::Level level{};
  log::parse_format(config.log_format, format);
  log::parse_level(config.log_level, level);
  log::init(format, level, config.log_rate_limit);
}

std::unique_ptr<store::Store> open_store(const Config& config, const admin::DataDir& dir) {
  if (config.store == "sqlite") return store::open_sqlite(dir.database().string());
  if (config.store.starts_with("redis://")) {
    store::RedisOptions options;
    options.url = config.store;
    options.session_lease_ttl = std::chrono::seconds(config.session_lease_seconds);
    return store::open_redis(options);
  }
  // Not echoed: a mistyped URL may still hold a password.
  throw std::runtime_error("unsupported --store: use sqlite or redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]");
}

struct Opened {
  admin::DataDir dir;
  std::unique_ptr<store::Store> store;
};

Opened open_data(const Config& config) {
  crypto::init();
  auto dir = admin::prepare_data_dir(config.data_dir);
  auto store = open_store(config, dir);
  return {std::move(dir), std::move(store)};
}

// ---- serve ----

void ensure_signing_key(const admin::DataDir& dir, store::Store& store) {
  if (admin::active_signing_key(store.snapshot().signing_keys, admin::local_signing_kids(dir))) return;
  const auto key = admin::create_signing_key(dir, store, unix_now());
  log::info("signing_key_created", {{"kid", key.kid}});
}

std::optional<admin::NewApiKey> create_first_key(store::Store& store) {
  if (!store.list_keys().empty()) return std::nullopt;
  return admin::create_api_key(store, "default", unix_now());
}

void print_first_key(const admin::NewApiKey& key, const std::string& base_url) {
  std::cout << "\n"
            << "  Bouncer created your first permanent API key, \"default\" (" << key.record.id << ").\n"
            << "  It is shown this once and stored only as a hash: copy it now.\n\n"
            << "    " << key.secret << "\n\n"
            << "  Mint a client token with it:\n\n"
            << "    curl -s -X POST " << base_url << "/v1/client/tokens \\\n"
            << "      -H 'X-API-KEY: " << key.secret << "' \\\n"
            << "      -H 'Content-Type: application/json' -d '{\"expiresIn\": 60}'\n\n"
            << std::flush;
}

void start_and_greet(server::Server& server, store::Store& store) {
  server.start();
  // Only once the server runs: a start that failed (a busy port, a bad certificate) must not
  // leave behind a first key that nobody was shown.
  const auto first_key = create_first_key(store);
  if (!first_key) return;
  server.reload_state();  // serves the new key before anyone reads it
  print_first_key(*first_key, server.public_url());
}

int serve(const Config& config) {
  auto options = to_server_options(config);
  auto [dir, store] = open_data(config);
  ensure_signing_key(dir, *store);

  auto server = std::make_unique<server::Server>(options, *store);
  if (!config.config_file.empty()) {
    // SIGHUP re-reads the file's models (only them: see ConfigReloader).
    auto reloader = std::make_shared<ConfigReloader>(config.config_file);
    server->set_model_source([reloader] { return reloader->models(); });
  }
  try {
    start_and_greet(*server, *store);
  } catch (const std::exception& e) {
    // Said before the server is taken down (and logs its own shutdown): the error is the news.
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
  server->run_until_signal();
  // Order matters: the server is stopped, then the store drains its queue (answers go to
  // stopped executors and are dropped), then the server's memory goes.
  store.reset();
  server.reset();
  return 0;
}

// ---- keys ----

int keys_create(const Config& config, const std::string& name) {
  auto [dir, store] = open_data(config);
  const auto key = admin::create_api_key(*store, name, unix_now());
  // The secret alone on stdout, so scripts can capture it: KEY=$(bouncer keys create --name x)
  std::cout << key.secret << std::endl;
  std::cerr << "Created key " << key.record.id << " (" << key.record.name
            << "). The secret above is shown once and stored only as a hash." << std::endl;
  log::info("key_created", {{"key_id", key.record.id}, {"name", key.record.name}});
  return 0;
}

int keys_list(const Config& config, bool as_json) {
  auto [dir, store] = open_data(config);
  const auto keys = store->list_keys();
  if (as_json) {
    std::string out = "[";
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const auto& k = keys[i];
      if (i) out += ',';
      out += "{\"id\":";
      json::append_string(out, k.id);
      out += ",\"name\":";
      json::append_string(out, k.name);
      out += ",\"prefix\":";
      json::append_string(out, k.prefix);
      out += ",\"createdAt\":\"" + server::rfc3339(k.created_at) + "\"";
      out += ",\"lastUsedAt\":" + (k.last_used_at ? "\"" + server::rfc3339(*k.last_used_at) + "\"" : std::string("null"));
      out += ",\"revokedAt\":" + (k.revoked_at ? "\"" + server::rfc3339(*k.revoked_at) + "\"" : std::string("null"));
      out += "}";
    }
    std::cout << out << "]" << std::endl;
    return 0;
  }
  std::cout << "ID                    NAME                 PREFIX        CREATED               LAST USED             REVOKED\n";
  for (const auto& k : keys) {
    // Plain ASCII so that columns line up: names are cut, not ellipsised.
    const std::string name = k.name.size() > 20 ? k.name.substr(0, 20) : k.name;
    char line[512];
    std::snprintf(line, sizeof line, "%-21s %-20s %-13s %-21s %-21s %s\n", k.id.c_str(), name.c_str(),
                  (k.prefix + "..").c_str(), server::rfc3339(k.created_at).c_str(), when(k.last_used_at).c_str(),
                  when(k.revoked_at).c_str());
    std::cout << line;
  }
  return 0;
}

int keys_revoke(const Config& config, const std::string& id, bool end_sessions) {
  auto [dir, store] = open_data(config);
  if (!store->revoke_key(id, unix_now(), end_sessions)) {
    std::cerr << "error: no key with id " << id << " (see: bouncer keys list)" << std::endl;
    return 1;
  }
  std::cout << "Revoked " << id << (end_sessions ? " and asked servers to end its live sessions" : "")
            << ". Running servers refuse it within a second." << std::endl;
  log::info("key_revoked", {{"key_id", id}, {"end_sessions", end_sessions}});
  return 0;
}

// ---- tokens inspect ----

std::string decoded_segment(std::string_view jwt, int index) {
  std::size_t start = 0;
  for (int i = 0; i < index; ++i) {
    start = jwt.find('.', start);
    if (start == std::string_view::npos) return "(missing)";
    ++start;
  }
  const auto end = jwt.find('.', start);
  const auto bytes = token::base64url_decode(jwt.substr(start, end == std::string_view::npos ? end : end - start));
  return bytes ? *bytes : "(not base64url)";
}

// What `tokens inspect` is asked: the credential, and optionally the model and Origin of a
// session it would open.
struct InspectRequest {
  std::string credential;
  std::optional<std::string> model;
  std::optional<std::string> origin;
};

// "verdict: refused: <what the door would say> (<why>)", or "verdict: valid …".
int print_verdict(const policy::AdmissionVerdict& verdict, const InspectRequest& request, const std::string& issuer) {
  if (verdict.refusal != policy::Refusal::none) {
    std::cout << "verdict: refused: " << policy::close_reason(verdict.refusal).message << " (" << verdict.reason << ")";
    if (verdict.reason.starts_with("wrong_issuer") || verdict.reason.starts_with("wrong_audience")) {
      std::cout << "; expected " << issuer << " (set --public-url to the server's)";
    }
    std::cout << std::endl;
    return 1;
  }
  std::cout << "verdict: valid";
  if (request.model) {
    std::cout << " (a session for model \"" << *request.model << "\" may start "
              << (request.origin ? "from Origin \"" + *request.origin + "\"" : std::string("without an Origin"))
              << " unless a session cap is reached)";
  } else if (verdict.claims) {
    std::cout << " (a session may start if its model and Origin are in scope)";
  }
  std::cout << std::endl;
  return 0;
}

void print_permanent_key(const server::State& state, std::string_view credential) {
  std::cout << "kind:    permanent key (sk_)\n";
  if (const auto* k = state.find_key_by_secret(credential)) {
    std::cout << "id:      " << k->id << "\nname:    " << k->name << "\ncreated: " << server::rfc3339(k->created_at)
              << "\nrevoked: " << when(k->revoked_at) << "\n";
  }
}

void print_token(store::Store& store, const server::State& state, std::string_view jwt,
                 const std::optional<token::Claims>& claims, std::int64_t now) {
  std::cout << "kind:    client token\nheader:  " << decoded_segment(jwt, 0) << "\nclaims:  " << decoded_segment(jwt, 1)
            << "\n";
  if (!claims) return;  // its signature did not hold: nothing in it is to be believed
  std::cout << "issued:  " << server::rfc3339(claims->iat) << "\nexpires: " << server::rfc3339(claims->exp) << " ("
            << (claims->exp > now ? "in " + std::to_string(claims->exp - now) + " s"
                                  : std::to_string(now - claims->exp) + " s ago")
            << ")\n";
  const auto* parent = state.find_key(claims->sub);
  std::cout << "parent:  " << claims->sub << (parent ? " (" + parent->name + ")" : " (unknown key)") << "\n";
  if (const auto record = store.find_token(claims->jti)) {
    std::cout << "metadata: " << (record->metadata_json.empty() ? "none" : record->metadata_json) << "\n";
  } else {
    std::cout << "record:  none in this data dir\n";
  }
}

// Judges the credential with the door's own verdict (policy::judge_admission) on the state as
// the store holds it now, then prints what it found and that verdict.
int tokens_inspect(const Config& config, const InspectRequest& request) {
  auto [dir, store] = open_data(config);
  auto options = to_server_options(config);
  if (options.public_url.empty()) options.public_url = (options.tls() ? "https://" : "http://") + config.listen;
  const auto now = unix_now();
  const auto state = server::admission_state(store->snapshot(), now);
  // Read straight from the store: as fresh as a state can be.
  const auto facts = server::admission_facts(*state, options, true, now);
  std::optional<std::string_view> model;
  if (request.model) model = *request.model;
  std::optional<std::string_view> origin;
  if (request.origin) origin = *request.origin;
  const auto verdict = policy::judge_admission({request.credential, model, origin}, facts);

  switch (policy::classify_credential(request.credential)) {
    case policy::CredentialKind::permanent_key: print_permanent_key(*state, request.credential); break;
    case policy::CredentialKind::client_token:
      print_token(*store, *state, policy::jwt_of(request.credential), verdict.claims, now);
      break;
    case policy::CredentialKind::unknown: break;
  }
  return print_verdict(verdict, request, options.public_url);
}

// ---- signing-keys rotate ----

int signing_keys_rotate(const Config& config) {
  auto [dir, store] = open_data(config);
  const auto options = to_server_options(config);
  const auto key = admin::rotate_signing_key(dir, *store, unix_now(), options.publish_grace_seconds());
  std::cout << "New active signing key " << key.kid << ". Retired keys stay in the JWKS for "
            << options.publish_grace_seconds() << " s, until every token they signed has expired." << std::endl;
  log::info("signing_key_rotated", {{"kid", key.kid}});
  return 0;
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"Bouncer: short-lived, scoped client tokens for realtime AI WebSocket sessions", "bouncer"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "bouncer " BOUNCER_VERSION);
  // Each sub-command binds its own Config: CLI11 reads BOUNCER_* for every sub-command,
  // run or not, and a shared Config would let one that did not run overwrite the flags of
  // the one that did. `ran` points at the one that ran.
  std::vector<std::unique_ptr<Config>> configs;
  std::vector<std::unique_ptr<OptionBinder>> binders;
  Config* ran = nullptr;
  std::function<int()> action;
  auto leaf = [&](CLI::App* cmd, bool serve_options) {
    configs.push_back(std::make_unique<Config>());
    auto binder = std::make_unique<OptionBinder>(*cmd, *configs.back());
    binder->add_common();
    if (serve_options) binder->add_serve_options();
    binders.push_back(std::move(binder));
    return std::pair{binders.back().get(), configs.back().get()};
  };

  auto* serve_cmd = app.add_subcommand("serve", "Run the token service and the door");
  auto [serve_binder, serve_config] = leaf(serve_cmd, true);
  serve_cmd->callback([&] {
    serve_binder->finish();
    ran = serve_config;
    action = [&, serve_config = serve_config] { return serve(*serve_config); };
  });

  auto* keys = app.add_subcommand("keys", "Manage permanent API keys (sk_)");
  keys->require_subcommand(1);
  std::string name;
  auto* create = keys->add_subcommand("create", "Create a key; prints its secret once");
  create->add_option("--name", name, "A name to recognise the key by")->required();
  auto [create_binder, create_config] = leaf(create, false);
  create->callback([&] {
    create_binder->finish();
    ran = create_config;
    action = [&, create_config = create_config] { return keys_create(*create_config, name); };
  });
  bool as_json = false;
  auto* list = keys->add_subcommand("list", "List keys (never their secrets)");
  list->add_flag("--json", as_json, "Print JSON");
  auto [list_binder, list_config] = leaf(list, false);
  list->callback([&] {
    list_binder->finish();
    ran = list_config;
    action = [&, list_config = list_config] { return keys_list(*list_config, as_json); };
  });
  std::string id;
  bool end_sessions = false;
  auto* revoke = keys->add_subcommand("revoke", "Revoke a key: its tokens are refused within a second");
  revoke->add_option("ID", id, "Key id (from keys list)")->required();
  revoke->add_flag("--end-sessions", end_sessions, "Also end the live sessions of the key's tokens");
  auto [revoke_binder, revoke_config] = leaf(revoke, false);
  revoke->callback([&] {
    revoke_binder->finish();
    ran = revoke_config;
    action = [&, revoke_config = revoke_config] { return keys_revoke(*revoke_config, id, end_sessions); };
  });

  auto* tokens = app.add_subcommand("tokens", "Client tokens");
  tokens->require_subcommand(1);
  InspectRequest inspected;
  auto* inspect = tokens->add_subcommand(
      "inspect", "Decode and verify a credential; say whether the door would admit it, and if not why");
  inspect->add_option("CREDENTIAL", inspected.credential, "An ek_ key, a JWT or an sk_ key")->required();
  auto* model_option = inspect->add_option(
      "--model", inspected.model, "Judge a session for this model too (as ?model= at the door), not the credential alone");
  inspect->add_option("--origin", inspected.origin, "The Origin header of that session (none when not given)")
      ->needs(model_option);
  auto [inspect_binder, inspect_config] = leaf(inspect, true);
  inspect->callback([&] {
    inspect_binder->finish();
    ran = inspect_config;
    action = [&, inspect_config = inspect_config] { return tokens_inspect(*inspect_config, inspected); };
  });

  auto* signing = app.add_subcommand("signing-keys", "Token signing keys");
  signing->require_subcommand(1);
  auto* rotate = signing->add_subcommand("rotate", "Make a new active signing key; old ones stay published");
  auto [rotate_binder, rotate_config] = leaf(rotate, false);
  rotate->callback([&] {
    rotate_binder->finish();
    ran = rotate_config;
    action = [&, rotate_config = rotate_config] { return signing_keys_rotate(*rotate_config); };
  });

  if (const auto typo = unknown_subcommand(app, std::vector<std::string>(argv + std::min(argc, 1), argv + argc))) {
    std::cerr << "error: " << *typo << std::endl;
    return static_cast<int>(CLI::ExitCodes::ExtrasError);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // A key pasted where an argument was expected is echoed by the parser: not in full.
    std::ostringstream err;
    const int status = app.exit(e, std::cout, err);
    std::cerr << log::redact_secrets(err.str()) << std::flush;
    return status;
  } catch (const std::exception& e) {
    std::cerr << "error: " << log::redact_secrets(e.what()) << std::endl;
    return 2;
  }
  try {
    if (!ran || !action) return 0;
    setup_logging(*ran);
    return action();
  } catch (const std::exception& e) {
    std::cerr << "error: " << log::redact_secrets(e.what()) << std::endl;
    return 1;
  }
}

}  // namespace bouncer::cli
