# frozen_string_literal: true

# The engine's configuration: how this app finds users, roles and status.
LegacyAuthVerify.configure do |c|
  c.user_from_token   = ->(token) { ApiToken.user_for(token) }
  c.user_from_session = ->(session) { User.find_by(id: session[:user_id]) }
  c.roles             = ->(user) { user.role_names }
  c.extra_fields      = ->(user) { { email: user.email } }
  c.disabled          = ->(user) { user.disabled? }
  c.redis_url         = ENV["REDIS_URL"] # publish revocations when set
  c.redis_prefix      = ENV.fetch("LEGACY_AUTH_REDIS_PREFIX", "legacy-auth:")
end

# Demo only: count the verify calls served (GET /__calls).
VERIFY_CALLS = Concurrent::AtomicFixnum.new
ActiveSupport::Notifications.subscribe("process_action.action_controller") do |*, payload|
  VERIFY_CALLS.increment if payload[:controller] == "LegacyAuthVerify::VerifyController"
end
