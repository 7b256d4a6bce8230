// bouncer-client-example: what a backend and its client do with Bouncer, in one program.
//
//   bouncer-client-example --server ws://127.0.0.1:8080 --key sk_… --model echo --message hi
//
// 1. mints a client token with the permanent key (POST /v1/client/tokens),
// 2. opens a session to the model with it (the token goes in the subprotocol, not the URL),
// 3. sends the message, prints the answer, closes and prints the close.
// Exit status: 0 done, 1 usage, 2 refused (mint or session), 3 connection or other failure.
#include <bouncer/client/client.hpp>

#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <variant>

namespace bc = bouncer::client;

namespace {

struct Arguments {
  std::string server;
  std::string key;
  std::string model = "echo";
  std::string message = "hi";
  std::string ca_file;
  std::string origin;
  bool binary = false;
};

[[noreturn]] void usage(const char* problem) {
  std::cerr << "error: " << problem << "\n"
            << "usage: bouncer-client-example --server URL --key sk_… [--model NAME] [--message TEXT] [--binary]\n"
            << "                              [--ca-file PEM] [--origin ORIGIN]\n"
            << "  The key may also come from the environment: BOUNCER_API_KEY.\n";
  std::exit(1);
}

Arguments parse_arguments(int argc, char** argv) {
  Arguments a;
  const std::map<std::string, std::string*> valued{{"--server", &a.server}, {"--key", &a.key},
                                                   {"--model", &a.model},   {"--message", &a.message},
                                                   {"--ca-file", &a.ca_file}, {"--origin", &a.origin}};
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--binary") {
      a.binary = true;
    } else if (const auto it = valued.find(flag); it != valued.end() && i + 1 < argc) {
      *it->second = argv[++i];
    } else {
      usage(("unknown or incomplete option " + flag).c_str());
    }
  }
  if (a.key.empty()) {
    if (const char* env = std::getenv("BOUNCER_API_KEY")) a.key = env;
  }
  if (a.server.empty()) usage("--server is required");
  if (a.key.empty()) usage("--key (or BOUNCER_API_KEY) is required");
  return a;
}

void print(const bc::Event& event) {
  if (const auto* m = std::get_if<bc::Message>(&event)) {
    std::cout << (m->binary ? "received binary: " : "received text: ") << m->data << "\n";
  } else if (const auto* c = std::get_if<bc::Closed>(&event)) {
    std::cout << "closed by the server: " << c->code << (c->reason.empty() ? "" : " " + c->reason) << "\n";
  } else if (const auto* r = std::get_if<bc::Renewed>(&event)) {
    std::cout << "renewed, deadline " << r->deadline.value_or("none") << "\n";
  } else if (const auto* f = std::get_if<bc::RenewFailed>(&event)) {
    std::cout << "renewal failed: " << f->error << "\n";
  } else if (const auto* b = std::get_if<bc::BouncerError>(&event)) {
    std::cout << "Bouncer did not understand a message: " << b->error << "\n";
  } else if (const auto* e = std::get_if<bc::SessionExpiring>(&event)) {
    std::cout << "session expiring in " << e->seconds_left << " s\n";
  }
}

int run(const Arguments& a) {
  bc::MintRequest mint;
  mint.base_url = a.server;
  mint.api_key = a.key;
  mint.expires_in = 60;
  mint.allowed_models = {a.model};
  if (!a.origin.empty()) mint.allowed_origins = {a.origin};
  mint.tls.ca_file = a.ca_file;
  const auto credential = bc::mint_token(mint);
  std::cout << "minted a client token for " << a.model << ", valid until " << credential.expires_at << "\n";

  bc::ConnectOptions options;
  options.base_url = a.server;
  options.model = a.model;
  options.tls.ca_file = a.ca_file;
  if (!a.origin.empty()) options.origin = a.origin;
  auto session = bc::Session::connect(credential, options);
  std::cout << "connected, subprotocol " << session.subprotocol() << "\n";

  a.binary ? session.send_binary(a.message) : session.send_text(a.message);
  for (;;) {
    const auto event = session.receive_for(std::chrono::seconds(10));
    if (!event) {
      std::cerr << "no answer within 10 s\n";
      break;
    }
    print(*event);
    if (std::holds_alternative<bc::Closed>(*event)) return 0;
    if (std::holds_alternative<bc::Message>(*event)) break;
  }
  const auto closed = session.close(1000, "done");
  // The model's answer to our close: its code and reason, not necessarily ours.
  std::cout << "closed: " << closed.code << (closed.reason.empty() ? "" : " " + closed.reason) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const auto arguments = parse_arguments(argc, argv);
  try {
    return run(arguments);
  } catch (const bc::RefusedError& e) {
    std::cerr << "refused: " << e.close_code() << " " << e.reason() << (e.permanent() ? " (permanent)" : " (retryable)")
              << "\n";
    return 2;
  } catch (const bc::MintError& e) {
    std::cerr << e.what() << (e.retryable() ? " (retryable)" : "") << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 3;
  }
}
