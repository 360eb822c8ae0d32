# frozen_string_literal: true

require "rails"
require "action_controller/railtie"
require "active_record/railtie"

module LegacyAuthVerify
  # Engine is what the host app mounts:
  #
  #   mount LegacyAuthVerify::Engine, at: "/internal/auth"   # → /internal/auth/verify
  #
  # Its middleware (SessionBridge) runs only for requests routed to it.
  class Engine < ::Rails::Engine
    isolate_namespace LegacyAuthVerify

    config.middleware.use LegacyAuthVerify::SessionBridge
  end
end
