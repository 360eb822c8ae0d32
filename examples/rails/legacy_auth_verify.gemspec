# frozen_string_literal: true

require_relative "lib/legacy_auth_verify/version"

Gem::Specification.new do |spec|
  spec.name        = "legacy_auth_verify"
  spec.version     = LegacyAuthVerify::VERSION
  spec.summary     = "The Rails side of Kong's legacy-auth plugin: a mountable verify endpoint and revocation hooks"
  spec.description = <<~TEXT
    A Rails engine that answers legacy-auth's "who holds this credential?" call
    (GET/POST verify: 200 {"user_id","roles",...}, 401, 403; never a redirect,
    never a CSRF 422, Cache-Control: no-store) in full and API-only apps, and
    publishes revocations (logout, token revocation, password or role change,
    account disable) to the plugin's Redis channel.
  TEXT
  spec.authors  = ["legacy-auth"]
  spec.license  = "Apache-2.0"
  spec.files    = Dir["lib/**/*.rb", "app/**/*.rb", "config/**/*.rb", "db/migrate/*.rb", "README.md"]
  spec.required_ruby_version = ">= 2.7"

  # Rails 6.1 is what Debian 12 packages (ruby-rails); 7.x works the same way.
  spec.add_dependency "actionpack", ">= 6.1", "< 8"
  spec.add_dependency "activerecord", ">= 6.1", "< 8"
  spec.add_dependency "railties", ">= 6.1", "< 8"
  # The revocation publisher; loaded only when a redis_url is configured.
  spec.add_dependency "redis", ">= 4.0", "< 6"
end
