// consumer [BASE_URL KEY]: prints the client's version; with a server, mints a token, opens a
// session to the echo model and prints the echo.
#include <bouncer/client/client.hpp>

#include <iostream>
#include <variant>

int main(int argc, char** argv) {
  namespace bc = bouncer::client;
  std::cout << "bouncer client " << bc::version() << "\n";
  if (argc < 3) return 0;
  try {
    bc::MintRequest mint;
    mint.base_url = argv[1];
    mint.api_key = argv[2];
    const auto credential = bc::mint_token(mint);
    bc::ConnectOptions options;
    options.base_url = argv[1];
    options.model = "echo";
    auto session = bc::Session::connect(credential, options);
    session.send_text("consumer");
    const auto event = session.receive_for(std::chrono::seconds(10));
    const auto* message = event ? std::get_if<bc::Message>(&*event) : nullptr;
    if (!message) {
      std::cerr << "no echo\n";
      return 1;
    }
    std::cout << "echo: " << message->data << "\n";
    session.close();
    return 0;
  } catch (const bc::Error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
