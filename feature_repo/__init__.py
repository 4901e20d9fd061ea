# Makes the Feast repo installable as package data of `cnai`; Feast itself ignores this file.
