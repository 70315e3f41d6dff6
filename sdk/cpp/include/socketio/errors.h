#pragma once

#include <exception>
#include <stdexcept>
#include <string>

#include "absl/status/status.h"
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

// A handler's non-OK absl::Status (or StatusOr), as its error handler gets it.
class StatusError : public std::runtime_error {
 public:
  explicit StatusError(absl::Status status)
      : std::runtime_error(status.ToString()), status_(std::move(status)) {}
  const absl::Status& status() const { return status_; }

 private:
  absl::Status status_;
};

// What an error handler was given, for people: the what() of a std::exception,
// else "unknown exception".
std::string ErrorMessage(std::exception_ptr error);

}  // namespace socketio
