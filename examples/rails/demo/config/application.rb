# frozen_string_literal: true

require_relative "boot"

require "rails"
require "active_record/railtie"
require "action_controller/railtie"
Bundler.require(*Rails.groups) # legacy_auth_verify, sqlite3, webrick

module Demo
  # Application is a small host app for the legacy_auth_verify engine: the
  # users of the demo, API tokens, a login that sets the _legacy_session
  # cookie, and a logout that revokes.
  class Application < Rails::Application
    config.load_defaults 6.1
    # DEMO_API_ONLY=1 turns it into an API-only app (ActionController::API,
    # no cookie or session middleware): the engine must still read the
    # session cookie.
    config.api_only = ENV["DEMO_API_ONLY"] == "1"

    config.root = File.expand_path("..", __dir__)
    config.eager_load = Rails.env.production?
    config.cache_classes = true
    config.consider_all_requests_local = false
    config.action_dispatch.show_exceptions = true
    # Kong calls with Host: rails-app:3000 (or 127.0.0.1:<port>); Rails'
    # development host check would answer 403 "Blocked host", which the
    # plugin reports as "Invalid credentials".
    config.hosts.clear
    # CSRF protection stays on (ActionController::Base's default): the
    # verify endpoint must answer Kong's POST anyway.
    config.action_controller.allow_forgery_protection = true

    config.secret_key_base = ENV.fetch("SECRET_KEY_BASE") { "legacy-auth demo only, not a secret " * 2 }
    config.session_store :cookie_store, key: "_legacy_session"
    config.filter_parameters += %i[password token]

    config.logger = ActiveSupport::Logger.new(Rails.env.test? ? IO::NULL : $stdout)
    config.log_level = ENV.fetch("DEMO_LOG_LEVEL", "info").to_sym
    config.active_record.verbose_query_logs = false
    # The demo migrates at start (serve.rb, test/test_helper.rb).
    config.active_record.maintain_test_schema = false
  end
end
