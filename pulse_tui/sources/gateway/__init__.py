"""sources/gateway"""
