# frozen_string_literal: true

Rails.application.routes.draw do
  # The one line a Rails team adds: GET/POST /internal/auth/verify.
  mount LegacyAuthVerify::Engine, at: "/internal/auth"

  post "/login", to: "sessions#create"
  post "/logout", to: "sessions#destroy"
  post "/tokens", to: "tokens#create"
  get "/me", to: "pages#me"
  post "/profile", to: "pages#profile" # CSRF-protected, to show protection is on
  get "/health", to: "pages#health"
  get "/__calls", to: "pages#calls"     # verify calls served, to watch Kong's cache work
end
