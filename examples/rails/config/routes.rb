# frozen_string_literal: true

# GET and POST, so the plugin's auth_method can be either.
LegacyAuthVerify::Engine.routes.draw do
  match "verify", to: "verify#verify", via: %i[get post], format: false
end
