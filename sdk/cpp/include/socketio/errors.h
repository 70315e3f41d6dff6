#pragma once

#include <exception>
#include <stdexcept>
#include <string>

#include "socketio/payload.h"

namespace socketio {

// Thrown by a connect handler to refuse the connection, as Flask-SocketIO's
// ConnectionRefusedError: the client's connect_error gets `message` and `data`.
class ConnectionRefusedError : public std::runtime_error {
 public:
  explicit ConnectionRefusedError(const std::string& message = "Connection rejected by server",
                                  Json data = nullptr)
      : std::runtime_error(message), data_(std::move(data)) {}
  const Json& data() const { return data_; }

 private:
  Json data_;
};

// What an error handler was given, for people: the what() of a std::exception,
// else "unknown exception".
std::string ErrorMessage(std::exception_ptr error);

}  // namespace socketio
